"""Erasure by crypto-shredding, as a contract every store holds (memory: LocalKeyService; moto and moto's
server: moto's KMS), plus what only the DynamoDB tables can show: no plaintext is ever stored."""

from __future__ import annotations

import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from moto import mock_aws

from eventstore.appends import NewEvent
from eventstore.commits import decode_commit
from eventstore.domain import (
    Caller,
    DataSubjectErased,
    DataSubjectNotFound,
    EventIdConflict,
    RecordedEvent,
    ServiceUnavailable,
)
from eventstore.dynamodb.keys import DynamoSubjectKeys
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.erasure import KEY_CACHE_SECONDS, Keyring, KmsKeyService, LocalKeyService, MemorySubjectKeys
from eventstore.memory import MemoryEventStore
from eventstore.notifications import CommitRecord, build_notification
from eventstore.store import EventStore
from eventstore.table import create_table
from tests.core.conftest import REGION, moto_keyring

CALLER = Caller(principal="arn:aws:iam::123456789012:user/dpo", request_id="req-erase-1")
MARKER = "MARKER-4b1f0c-plaintext"


def event(subject: str | None, payload: Any, event_type: str = "Noted", **metadata: Any) -> NewEvent:
    return NewEvent(str(uuid.uuid4()), event_type, payload, metadata, data_subject=subject)


def read_all(store: EventStore, stream_id: str, stream_type: str = "person") -> list[RecordedEvent]:
    page = store.read(stream_type, stream_id, 0, 1000)
    return list(page.events)


def subject() -> str:
    return f"subject-{uuid.uuid4().hex[:12]}"


def test_mixed_batches_round_trip_with_their_subjects(store: EventStore) -> None:
    ada, bob = subject(), subject()
    sent = [
        event(ada, {"name": "Ada", "note": "x" * 2000}),
        event(None, {"plain": True}),
        event(bob, "Bob's string payload"),
        event(ada, None),
    ]
    stream_id = str(uuid.uuid4())
    store.create("person", stream_id, sent[:2], CALLER)
    store.append("person", stream_id, 2, sent[2:], CALLER)
    read = read_all(store, stream_id)
    assert [(e.payload, e.data_subject, e.payload_erased) for e in read] == [
        (e.payload, e.data_subject, False) for e in sent
    ]
    assert all(e.sealed is None for e in read)
    assert store.data_subject(ada).state == "active"


def test_erasure_nulls_only_that_subjects_payloads_and_keeps_the_stream_whole(store: EventStore) -> None:
    ada, bob = subject(), subject()
    stream_id = str(uuid.uuid4())
    sent = [event(ada, {"name": "Ada"}, correlationId="c-1"), event(bob, {"name": "Bob"}), event(None, 1)]
    store.create("person", stream_id, sent, CALLER)
    before = read_all(store, stream_id)

    state = store.erase_data_subject(ada, CALLER)
    assert (state.state, state.erased_by) == ("erased", CALLER.principal)
    again = store.erase_data_subject(ada, Caller("someone-else", "req-2"))
    assert (again.erased_at, again.erased_by) == (state.erased_at, CALLER.principal)  # the first erasure

    after = read_all(store, stream_id)
    assert [e.revision for e in after] == [1, 2, 3]
    erased = after[0]
    assert (erased.payload, erased.payload_erased, erased.data_subject) == (None, True, ada)
    assert (erased.event_id, erased.event_type, erased.metadata) == (
        before[0].event_id,
        before[0].event_type,
        before[0].metadata,
    )
    assert after[1:] == before[1:]


def test_appends_for_an_erased_subject_are_refused_and_write_nothing(store: EventStore) -> None:
    ada = subject()
    stream_id = str(uuid.uuid4())
    store.create("person", stream_id, [event(ada, {"a": 1})], CALLER)
    store.erase_data_subject(ada, CALLER)
    for expected in (1, "any"):
        with pytest.raises(DataSubjectErased):
            store.append("person", stream_id, expected, [event(None, 2), event(ada, {"a": 2})], CALLER)
    with pytest.raises(DataSubjectErased):
        store.create("person", str(uuid.uuid4()), [event(ada, {"a": 3})], CALLER)
    assert store.describe("person", stream_id).revision == 1


def test_a_subject_erased_before_it_was_seen_never_gets_a_key(store: EventStore) -> None:
    ghost = subject()
    with pytest.raises(DataSubjectNotFound):
        store.data_subject(ghost)
    store.erase_data_subject(ghost, CALLER)
    assert store.data_subject(ghost).state == "erased"
    with pytest.raises(DataSubjectErased):
        store.create("person", str(uuid.uuid4()), [event(ghost, {"a": 1})], CALLER)


def test_retries_of_a_subjects_append_are_replays_and_reused_ids_conflict(store: EventStore) -> None:
    ada = subject()
    stream_id = str(uuid.uuid4())
    first = [event(ada, {"name": "Ada", "k": [1, 2]})]
    store.create("person", stream_id, first, CALLER)
    # Same content with the keys in another order: the fingerprint is over canonical JSON.
    retried = [NewEvent(first[0].event_id, "Noted", {"k": [1, 2], "name": "Ada"}, data_subject=ada)]
    assert store.create("person", stream_id, retried, CALLER).replayed
    second = [event(ada, {"n": 2})]
    assert not store.append("person", stream_id, 1, second, CALLER).replayed
    assert store.append("person", stream_id, 1, second, CALLER).replayed
    changed = [NewEvent(second[0].event_id, "Noted", {"n": 3}, data_subject=ada)]
    with pytest.raises(EventIdConflict):
        store.append("person", stream_id, 1, changed, CALLER)
    other_subject = [NewEvent(second[0].event_id, "Noted", {"n": 2}, data_subject=subject())]
    with pytest.raises(EventIdConflict):
        store.append("person", stream_id, 1, other_subject, CALLER)
    assert len(read_all(store, stream_id)) == 2


def test_an_append_racing_the_erasure_is_refused_or_erased_with_the_rest(store: EventStore) -> None:
    """Writers append for one subject while it is erased: each append is 410 or acknowledged (or a 503
    that wrote nothing, when "any" appends keep losing races on a loaded machine); once the erasure
    returned every append is refused, no payload of the subject is readable and no revision is missing."""
    ada = subject()
    stream_id = str(uuid.uuid4())
    store.create("person", stream_id, [event(ada, {"n": 0})], CALLER)
    acknowledged: list[int] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    erase_at, erased = threading.Barrier(5), threading.Event()

    def append(number: int) -> str:
        try:
            result = store.append("person", stream_id, "any", [event(ada, {"w": number})], CALLER)
        except DataSubjectErased:
            return "refused"
        except ServiceUnavailable:
            return "unavailable"
        with lock:
            acknowledged.append(result.first_revision)
        return "acknowledged"

    def writer(number: int) -> None:
        for attempt in range(8):
            if attempt == 2:  # the erasure starts now, racing attempts 2-5
                erase_at.wait(timeout=30)
            if attempt >= 6:  # after the erasure returned
                assert erased.wait(timeout=60)
                assert append(number) == "refused"
                continue
            outcome = append(number)
            with lock:
                outcomes[outcome] += 1

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(writer, n) for n in range(4)]
        erase_at.wait(timeout=30)
        store.erase_data_subject(ada, CALLER)
        erased.set()
        for future in futures:
            future.result()
    assert sum(outcomes.values()) == 24  # 4 writers x 6 appends before the erasure returned
    assert outcomes["acknowledged"] == len(acknowledged)
    events = read_all(store, stream_id)
    assert [e.revision for e in events] == list(range(1, len(acknowledged) + 2))
    assert sorted(acknowledged) == list(range(2, len(acknowledged) + 2))
    assert all(e.payload is None and e.payload_erased for e in events)


# What only the tables show ------------------------------------------------------------------------------


def _haystack(value: Any) -> Iterator[str]:
    """Every text a DynamoDB value holds, binary values decompressed where they are zlib streams."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _haystack(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _haystack(inner)
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
        yield _inflated(value)
    else:
        yield str(value)


def _inflated(value: bytes) -> str:
    try:
        return zlib.decompress(value).decode("utf-8", "replace")
    except zlib.error:
        return ""


def _scan_text(client: Any, table: str) -> str:
    return "\n".join(text for item in client.scan(TableName=table)["Items"] for text in _haystack(item))


@pytest.fixture
def tables() -> Iterator[tuple[DynamoEventStore, Any]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, "events")
        yield DynamoEventStore(client, "events", keyring=moto_keyring(None, "keys")), client


def test_the_tables_and_notifications_never_hold_a_subjects_plaintext(
    tables: tuple[DynamoEventStore, Any],
) -> None:
    store, client = tables
    ada = subject()
    stream_id = str(uuid.uuid4())
    long_text = f"{MARKER} " * 200  # compressible: compression comes before encryption
    store.create("person", stream_id, [event(ada, {"note": MARKER}), event(ada, long_text)], CALLER)
    store.append("person", stream_id, 2, [event(None, {"control": f"{MARKER}-plain"})], CALLER)

    events_text = _scan_text(client, "events")
    keys_text = _scan_text(client, "keys")
    # The control: an event without a subject is found, compressed or not, so the scan can see.
    assert f"{MARKER}-plain" in events_text
    assert events_text.count(MARKER) == 1
    assert MARKER not in keys_text
    for item in client.scan(TableName="events")["Items"]:
        commit = decode_commit(item)
        record = CommitRecord(position=0, sequence_number="1", commit=commit)
        assert MARKER not in build_notification(record, fifo=False).message
    assert [e.payload for e in read_all(store, stream_id)][:2] == [{"note": MARKER}, long_text]


def test_the_keys_table_holds_wrapped_keys_bound_to_their_subject(
    tables: tuple[DynamoEventStore, Any],
) -> None:
    store, client = tables
    ada, bob = subject(), subject()
    store.create("person", str(uuid.uuid4()), [event(ada, 1), event(bob, 2)], CALLER)
    items = {i["dataSubject"]["S"]: i for i in client.scan(TableName="keys")["Items"]}
    kms = boto3.client("kms", region_name=REGION)
    # A wrapped key opens only with its own subject's encryption context.
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=items[ada]["wrappedKey"]["B"], EncryptionContext={"eventstore:dataSubject": bob}
        )
    store.erase_data_subject(ada, CALLER)
    erased = client.get_item(TableName="keys", Key={"dataSubject": {"S": ada}})["Item"]
    assert "wrappedKey" not in erased
    assert erased["erasedBy"] == {"S": CALLER.principal}
    assert erased["erasureRequestId"] == {"S": CALLER.request_id}


def test_a_warm_container_opens_an_erased_subject_for_at_most_the_cache_time(
    tables: tuple[DynamoEventStore, Any],
) -> None:
    """Another container (its own keyring and cache) read the key just before the erasure."""
    store, client = tables
    ada = subject()
    stream_id = str(uuid.uuid4())
    store.create("person", stream_id, [event(ada, {"name": "Ada"})], CALLER)
    now = [1000.0]
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.list_keys()["Keys"][0]["KeyId"]
    warm = DynamoEventStore(
        client,
        "events",
        keyring=Keyring(
            DynamoSubjectKeys(client, "keys"), KmsKeyService(lambda: kms, key_id), clock=lambda: now[0]
        ),
    )
    assert read_all(warm, stream_id)[0].payload == {"name": "Ada"}
    store.erase_data_subject(ada, CALLER)
    now[0] += KEY_CACHE_SECONDS - 0.001
    assert read_all(warm, stream_id)[0].payload == {"name": "Ada"}  # the documented window
    now[0] += 0.001
    assert read_all(warm, stream_id)[0].payload_erased
    with pytest.raises(DataSubjectErased):  # and it never stores a new key for the subject
        warm.append("person", stream_id, 1, [event(ada, {"name": "Ada again"})], CALLER)
    assert "wrappedKey" not in client.get_item(TableName="keys", Key={"dataSubject": {"S": ada}})["Item"]


def test_two_containers_creating_a_subjects_first_key_agree_on_one(
    tables: tuple[DynamoEventStore, Any],
) -> None:
    store, client = tables
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.list_keys()["Keys"][0]["KeyId"]
    other = DynamoEventStore(
        client,
        "events",
        keyring=Keyring(DynamoSubjectKeys(client, "keys"), KmsKeyService(lambda: kms, key_id)),
    )
    ada = subject()
    # Both find no key; the second's conditional write loses and it uses the winner's key.
    keys = DynamoSubjectKeys(client, "keys")
    first = keys.add(ada, b"wrapped-by-one", "2026-01-01T00:00:00Z")
    second = keys.add(ada, b"wrapped-by-two", "2026-01-01T00:00:01Z")
    assert first.wrapped == second.wrapped == b"wrapped-by-one"
    keys.erase(ada, "2026-01-01T00:00:02Z", CALLER)
    assert keys.add(ada, b"wrapped-after", "2026-01-01T00:00:03Z").wrapped is None
    bob = subject()
    stream_id = str(uuid.uuid4())
    store.create("person", stream_id, [event(bob, {"n": 1})], CALLER)
    other.append("person", stream_id, 1, [event(bob, {"n": 2})], CALLER)
    assert [e.payload for e in read_all(store, stream_id)] == [{"n": 1}, {"n": 2}]


def test_local_key_service_binds_a_wrapped_key_to_its_subject() -> None:
    service = LocalKeyService()
    key, wrapped = service.generate_data_key({"eventstore:dataSubject": "ada"})
    assert wrapped != key
    assert service.decrypt(wrapped, {"eventstore:dataSubject": "ada"}) == key
    with pytest.raises(InvalidTag):
        service.decrypt(wrapped, {"eventstore:dataSubject": "bob"})


def test_expired_keys_leave_a_full_cache_and_erasures_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventstore import erasure  # noqa: PLC0415

    monkeypatch.setattr(erasure, "_CACHE_PRUNE_AT", 3)
    now = [0.0]
    keyring = Keyring(MemorySubjectKeys(), LocalKeyService(), clock=lambda: now[0])
    keyring.seal("s", [event("a", 1), event("b", 1)])
    keyring.erase("c", CALLER)
    now[0] += KEY_CACHE_SECONDS
    keyring.seal("s", [event("d", 1)])
    assert set(keyring._cache) == {"c", "d"}
    with pytest.raises(DataSubjectErased):
        keyring.seal("s", [event("c", 1)])


def test_a_ciphertext_moved_to_another_event_is_refused_not_misread(
    tables: tuple[DynamoEventStore, Any],
) -> None:
    """The associated data binds each ciphertext to its stream, event and subject."""
    store, client = tables
    ada = subject()
    stream_id = str(uuid.uuid4())
    store.create("person", stream_id, [event(ada, {"n": 1}), event(ada, {"n": 2})], CALLER)
    key = {"streamId": {"S": stream_id}, "revision": {"N": "1"}}
    item = client.get_item(TableName="events", Key=key)["Item"]
    first, second = (entry["M"] for entry in item["events"]["L"])
    first["sealed"], second["sealed"] = second["sealed"], first["sealed"]
    client.put_item(TableName="events", Item=item)
    with pytest.raises(InvalidTag):
        read_all(store, stream_id)


def test_feeds_show_an_erased_subjects_events_marked_and_the_rest_intact(
    fed: tuple[DynamoEventStore | MemoryEventStore, Callable[[], None]],
) -> None:
    store, bring_feeds_up_to_date = fed
    ada = subject()
    stream_type = f"patient{uuid.uuid4().hex[:8]}"
    stream_id = str(uuid.uuid4())
    sent = [event(ada, {"name": "Ada", "marker": MARKER}), event(None, {"plain": True})]
    store.create(stream_type, stream_id, sent, CALLER)
    bring_feeds_up_to_date()
    before = store.read_feed(stream_type, None, 10).events
    assert [(e.payload, e.data_subject, e.payload_erased) for e in before] == [
        (sent[0].payload, ada, False),
        (sent[1].payload, None, False),
    ]

    store.erase_data_subject(ada, CALLER)
    for feed in (stream_type, None):
        events = [e for e in store.read_feed(feed, None, 1000).events if e.stream_id == stream_id]
        assert [(e.revision, e.payload, e.data_subject, e.payload_erased) for e in events] == [
            (1, None, ada, True),
            (2, {"plain": True}, None, False),
        ]
