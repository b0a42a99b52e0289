"""The lifecycle contract (issue 16), for every store: soft delete and restart, tombstones, stream metadata
and retention defaults visible at once on every read path, and deletes racing appends.

Each case runs on the memory store, moto in-process and moto's server, with a clock the test moves.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eventstore.domain import (
    ANY_REVISION,
    MetadataConflict,
    StreamAlreadyExists,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedRevision,
)
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.lifecycle import Retention, StreamMetadata
from eventstore.memory import MemoryEventStore
from eventstore.pagekeys import PageKeySigner
from eventstore.table import CONTROL_REVISION, create_table
from tests.core.conftest import PAGE_KEY_SECRET, REGION, moto_keyring, run_feed_writer
from tests.core.test_store_contract import CALLER, all_events, events
from tests.support import one_request_at_a_time

type Store = DynamoEventStore | MemoryEventStore

RETENTION = {"audit": Retention(max_count=3), "session": Retention(max_age_seconds=60)}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Subject:
    store: Store
    clock: Clock
    feed: Callable[[], None]
    """Brings the feeds up to date (the DynamoDB store's are written by notify_stream)."""


def _dynamo(client: Any, table: str, clock: Clock, endpoint: str | None) -> DynamoEventStore:
    create_table(client, table)
    return DynamoEventStore(
        one_request_at_a_time(client),  # racing writes, atomic as DynamoDB's (moto's are not under threads)
        table,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
        clock=clock,
        keyring=moto_keyring(endpoint, f"keys-{table}"),
        retention=RETENTION,
    )


@pytest.fixture(params=["memory", "moto", "moto-server"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    clock = Clock()
    if request.param == "memory":
        memory = MemoryEventStore(page_keys=PageKeySigner(PAGE_KEY_SECRET), clock=clock, retention=RETENTION)
        yield Subject(memory, clock, lambda: None)
    elif request.param == "moto":
        with mock_aws():
            store = _dynamo(boto3.client("dynamodb", region_name=REGION), "events", clock, None)
            yield Subject(store, clock, lambda: run_feed_writer(store))
    else:
        url: str = request.getfixturevalue("moto_server_url")
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=url)
        store = _dynamo(client, f"events-{uuid.uuid4().hex[:8]}", clock, url)
        yield Subject(store, clock, lambda: run_feed_writer(store))


def stream(store: Store, count: int = 3, stream_type: str = "order") -> str:
    stream_id = str(uuid.uuid4())
    store.create(stream_type, stream_id, events(*[f"E{n}" for n in range(1, count + 1)]), CALLER)
    return stream_id


def listed(store: Store, stream_type: str = "order") -> set[str]:
    return {s.stream_id for s in store.list_streams(stream_type, None, 1000, None).streams}


def fed_revisions(subject: Subject, stream_id: str, stream_type: str = "order") -> list[int]:
    """The stream's revisions in the all-types feed (checked equal to those in its type's feed)."""
    subject.feed()
    revisions = [
        [e.revision for e in subject.store.read_feed(feed, None, 1000).events if e.stream_id == stream_id]
        for feed in (None, stream_type)
    ]
    assert revisions[0] == revisions[1]
    return revisions[0]


# Soft delete and restart ----------------------------------------------------------------------------


def test_a_soft_deleted_stream_reads_as_unknown_everywhere(subject: Subject) -> None:
    store = subject.store
    stream_id, other = stream(store), stream(store)
    store.delete("order", stream_id, None, "soft")
    with pytest.raises(StreamNotFound):
        store.read("order", stream_id, 0, 100)
    with pytest.raises(StreamNotFound):
        store.read("order", stream_id, 2, 100)
    with pytest.raises(StreamNotFound):
        store.describe("order", stream_id)
    with pytest.raises(StreamNotFound):
        store.get_metadata("order", stream_id)
    assert listed(store) == {other}
    assert fed_revisions(subject, stream_id) == []
    assert [e.revision for e in all_events(store, "order", other)] == [1, 2, 3]


def test_an_append_after_a_soft_delete_starts_the_stream_again_after_its_last_revision(
    subject: Subject,
) -> None:
    store = subject.store
    stream_id = stream(store)
    store.delete("order", stream_id, 3, "soft")
    with pytest.raises(WrongExpectedRevision) as stale:
        store.append("order", stream_id, 2, events("Late"), CALLER)
    assert stale.value.current == 3
    result = store.append("order", stream_id, 3, events("Again"), CALLER)
    assert (result.first_revision, result.stream.revision) == (4, 4)
    page = store.read("order", stream_id, 0, 100)
    assert [e.event_type for e in page.events] == ["Again"]
    assert page.first_revision == 4
    assert store.describe("order", stream_id).revision == 4
    assert stream_id in listed(store)
    store.append("order", stream_id, ANY_REVISION, events("More"), CALLER)
    assert [e.revision for e in all_events(store, "order", stream_id)] == [4, 5]
    assert fed_revisions(subject, stream_id) == [4, 5]


def test_any_append_and_create_with_the_id_restart_a_soft_deleted_stream(subject: Subject) -> None:
    store = subject.store
    by_any, by_create = stream(store), stream(store, count=2)
    store.delete("order", by_any, None, "soft")
    store.delete("order", by_create, None, "soft")
    assert store.append("order", by_any, ANY_REVISION, events("X"), CALLER).first_revision == 4
    created = store.create("order", by_create, events("Created"), CALLER)
    assert (created.first_revision, created.replayed) == (3, False)
    assert [e.revision for e in all_events(store, "order", by_create)] == [3]
    with pytest.raises(StreamAlreadyExists):
        store.create("order", by_create, events("Created"), CALLER)


def test_deleting_twice_writes_nothing_and_a_stale_expected_revision_deletes_nothing(
    subject: Subject,
) -> None:
    store = subject.store
    stream_id = stream(store)
    with pytest.raises(WrongExpectedRevision) as stale:
        store.delete("order", stream_id, 2, "soft")
    assert stale.value.current == 3
    assert store.describe("order", stream_id).revision == 3
    store.delete("order", stream_id, None, "soft")
    store.delete("order", stream_id, None, "soft")
    store.delete("order", stream_id, 3, "soft")
    assert store.append("order", stream_id, 3, events("Back"), CALLER).stream.revision == 4
    with pytest.raises(StreamNotFound):
        store.delete("order", str(uuid.uuid4()), None, "soft")
    with pytest.raises(StreamNotFound):
        store.delete("invoice", stream_id, None, "soft")


def test_a_second_life_can_be_deleted_and_restarted_again(subject: Subject) -> None:
    store = subject.store
    stream_id = stream(store, count=2)
    store.delete("order", stream_id, 2, "soft")
    store.append("order", stream_id, 2, events("Second"), CALLER)
    store.delete("order", stream_id, 3, "soft")
    store.append("order", stream_id, 3, events("Third", "Fourth"), CALLER)
    page = store.read("order", stream_id, 0, 100)
    assert [(e.revision, e.event_type) for e in page.events] == [(4, "Third"), (5, "Fourth")]
    assert page.first_revision == 4


# Tombstones -------------------------------------------------------------------------------------------


def test_a_tombstoned_stream_is_gone_for_every_route(subject: Subject) -> None:
    store = subject.store
    stream_id, soft_first = stream(store), stream(store)
    store.delete("order", stream_id, 3, "tombstone")
    store.delete("order", soft_first, None, "soft")
    store.delete("order", soft_first, None, "tombstone")
    for gone in (stream_id, soft_first):
        for attempt in (
            lambda s=gone: store.read("order", s, 0, 100),
            lambda s=gone: store.read("order", s, 1, 100),
            lambda s=gone: store.describe("order", s),
            lambda s=gone: store.append("order", s, 3, events("X"), CALLER),
            lambda s=gone: store.append("order", s, ANY_REVISION, events("X"), CALLER),
            lambda s=gone: store.create("order", s, events("X"), CALLER),
            lambda s=gone: store.get_metadata("order", s),
            lambda s=gone: store.set_metadata("order", s, StreamMetadata(max_count=1), None),
            lambda s=gone: store.delete("order", s, None, "soft"),
        ):
            with pytest.raises(StreamDeleted):
                attempt()
        store.delete("order", gone, None, "tombstone")  # repeated: done already
        assert fed_revisions(subject, gone) == []
    assert listed(store) == set()


# Metadata and retention ---------------------------------------------------------------------------------


def test_truncate_before_hides_earlier_revisions_at_once_and_reads_start_at_it(subject: Subject) -> None:
    store = subject.store
    stream_id = stream(store, count=5)
    stored = store.set_metadata("order", stream_id, StreamMetadata(truncate_before=4), None)
    assert (stored.truncate_before, stored.revision) == (4, 1)
    page = store.read("order", stream_id, 0, 100)
    assert ([e.revision for e in page.events], page.first_revision) == ([4, 5], 4)
    assert [e.revision for e in store.read("order", stream_id, 1, 100).events] == [4, 5]
    later = store.read("order", stream_id, 4, 100)
    assert ([e.revision for e in later.events], later.first_revision) == ([5], 5)
    short = store.read("order", stream_id, 0, 1)
    assert ([e.revision for e in short.events], short.has_more, short.last_evaluated_revision) == (
        [4],
        True,
        4,
    )
    assert store.describe("order", stream_id).revision == 5
    assert fed_revisions(subject, stream_id) == [4, 5]
    beyond = store.set_metadata("order", stream_id, StreamMetadata(truncate_before=99), None)
    assert beyond.revision == 2
    empty = store.read("order", stream_id, 0, 100)
    assert (empty.events, empty.has_more, empty.first_revision) == ((), False, 99)
    store.set_metadata("order", stream_id, StreamMetadata(), None)
    assert len(all_events(store, "order", stream_id)) == 5


def test_max_count_keeps_the_newest_events_as_the_stream_grows(subject: Subject) -> None:
    store = subject.store
    stream_id = stream(store, count=4)
    store.set_metadata("order", stream_id, StreamMetadata(max_count=2), None)
    assert [e.revision for e in all_events(store, "order", stream_id)] == [3, 4]
    store.append("order", stream_id, 4, events("A", "B"), CALLER)
    page = store.read("order", stream_id, 0, 100)
    assert ([e.revision for e in page.events], page.first_revision) == ([5, 6], 5)
    assert fed_revisions(subject, stream_id) == [5, 6]


def test_max_age_hides_events_older_than_it_as_the_clock_moves(subject: Subject) -> None:
    store, clock = subject.store, subject.clock
    stream_id = stream(store, count=2)
    clock.advance(100)
    store.append("order", stream_id, 2, events("Newer"), CALLER)
    store.set_metadata("order", stream_id, StreamMetadata(max_age_seconds=50), None)
    page = store.read("order", stream_id, 0, 100)
    assert ([e.revision for e in page.events], page.first_revision) == ([3], 3)
    assert fed_revisions(subject, stream_id) == [3]
    clock.advance(51)
    empty = store.read("order", stream_id, 0, 100)
    assert (empty.events, empty.has_more) == ((), False)
    assert store.describe("order", stream_id).revision == 3


def test_type_defaults_apply_until_a_stream_overrides_them(subject: Subject) -> None:
    store, clock = subject.store, subject.clock
    audit = stream(store, count=5, stream_type="audit")
    assert [e.revision for e in all_events(store, "audit", audit)] == [3, 4, 5]
    store.set_metadata("audit", audit, StreamMetadata(max_count=4), None)
    assert [e.revision for e in all_events(store, "audit", audit)] == [2, 3, 4, 5]
    assert store.get_metadata("audit", audit).max_count == 4
    session = stream(store, stream_type="session")
    clock.advance(61)
    assert all_events(store, "session", session) == []
    store.set_metadata("session", session, StreamMetadata(max_age_seconds=3600), None)
    assert len(all_events(store, "session", session)) == 3


def test_metadata_compare_and_set(subject: Subject) -> None:
    store = subject.store
    stream_id = stream(store)
    assert store.get_metadata("order", stream_id) == StreamMetadata()
    first = store.set_metadata("order", stream_id, StreamMetadata(max_count=10), 0)
    assert first == StreamMetadata(max_count=10, revision=1)
    with pytest.raises(MetadataConflict) as stale:
        store.set_metadata("order", stream_id, StreamMetadata(max_count=5), 0)
    assert stale.value.current == 1
    second = store.set_metadata("order", stream_id, StreamMetadata(max_age_seconds=7), 1)
    assert second == StreamMetadata(max_age_seconds=7, revision=2)
    assert store.get_metadata("order", stream_id) == second
    with pytest.raises(StreamNotFound):
        store.set_metadata("order", str(uuid.uuid4()), StreamMetadata(), None)
    with pytest.raises(StreamNotFound):
        store.get_metadata("invoice", stream_id)


# Deletes racing appends ---------------------------------------------------------------------------------

RACES = 8


@pytest.mark.parametrize("mode", ["soft", "tombstone"])
def test_a_delete_racing_an_append_on_the_same_head_has_exactly_one_winner(
    subject: Subject, mode: str
) -> None:
    """Both name revision 1. Either the append lands first (the delete gets 409), or the delete does: an
    append that read the same head then loses its slot (409; 410 after a tombstone), and one that read the
    marker starts a soft-deleted stream again (an append at the old revision + 1). Never both, never half."""
    store = subject.store
    lost_append = StreamDeleted if mode == "tombstone" else WrongExpectedRevision
    seen: set[str] = set()
    for _ in range(RACES):
        stream_id = stream(store, count=1)
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def delete(s: str = stream_id, b: threading.Barrier = barrier, r: dict[str, Any] = results) -> None:
            b.wait(timeout=10)
            try:
                store.delete("order", s, 1, mode)  # type: ignore[arg-type]
                r["delete"] = "won"
            except WrongExpectedRevision as exc:
                r["delete"] = exc

        def append(s: str = stream_id, b: threading.Barrier = barrier, r: dict[str, Any] = results) -> None:
            b.wait(timeout=10)
            try:
                r["append"] = store.append("order", s, 1, events("Raced"), CALLER).first_revision
            except (WrongExpectedRevision, StreamDeleted) as exc:
                r["append"] = exc

        threads = [threading.Thread(target=delete), threading.Thread(target=append)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        if isinstance(results["delete"], WrongExpectedRevision):
            seen.add("append first")
            assert results["append"] == 2
            assert [e.revision for e in all_events(store, "order", stream_id)] == [1, 2]
        elif isinstance(results["append"], lost_append):
            seen.add("delete first")
            gone = StreamDeleted if mode == "tombstone" else StreamNotFound
            with pytest.raises(gone):
                store.read("order", stream_id, 0, 100)
            with pytest.raises(gone):
                store.describe("order", stream_id)
        else:
            seen.add("delete, then restart")
            assert mode == "soft", results
            assert results["append"] == 2
            assert [e.revision for e in all_events(store, "order", stream_id)] == [2]
    assert seen, "no race was run"


def test_two_restarts_of_a_soft_deleted_stream_have_one_winner(subject: Subject) -> None:
    store = subject.store
    for _ in range(RACES // 2):
        stream_id = stream(store, count=1)
        store.delete("order", stream_id, None, "soft")
        barrier = threading.Barrier(2)
        results: list[Any] = []

        def restart(s: str = stream_id, b: threading.Barrier = barrier, r: list[Any] = results) -> None:
            b.wait(timeout=10)
            try:
                r.append(store.append("order", s, 1, events("Restart"), CALLER).first_revision)
            except WrongExpectedRevision as exc:
                r.append(exc)

        threads = [threading.Thread(target=restart) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert [r for r in results if isinstance(r, int)] == [2], results
        assert [e.revision for e in all_events(store, "order", stream_id)] == [2]


# DynamoDB: what the control item records ---------------------------------------------------------------


def test_the_deleter_records_the_floor_on_the_control_item_before_answering(subject: Subject) -> None:
    store = subject.store
    if not isinstance(store, DynamoEventStore):
        pytest.skip("the control item is the DynamoDB store's")
    stream_id = stream(store)
    store.delete("order", stream_id, None, "soft")
    control = store.table.get_item(stream_id, CONTROL_REVISION)
    assert control is not None
    assert (control["deletedBefore"], control["streamType"]) == ({"N": "4"}, {"S": "order"})
    assert "digest" not in control
    assert "listingShard" not in control
