"""The storage contract: one suite, typed to the interfaces (eventstore.store), run against every store.

Each case runs once per implementation (conftest.store): the in-memory reference store, and the DynamoDB
store on moto in-process and on moto's server. The cases state what a user of the interface sees;
what only the DynamoDB store does (settle windows, listing markers, faults) is in test_dynamo_store.py.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

import pytest

from eventstore import timefmt
from eventstore.appends import NewEvent
from eventstore.commits import object_key, pack_payload
from eventstore.domain import (
    ANY_REVISION,
    NOT_GIVEN,
    BadPosition,
    Caller,
    CheckpointConflict,
    CheckpointNotFound,
    EventIdConflict,
    InvalidRequest,
    ServiceUnavailable,
    StoredPayloadCorrupt,
    StreamAlreadyExists,
    StreamNotFound,
    WrongExpectedRevision,
)
from eventstore.feedreads import FeedEvent, group_member
from eventstore.feedwriter import StreamCursors
from eventstore.notifications import NotificationCursor
from eventstore.payloads import PayloadObjects
from eventstore.store import EventStore, FeedStore


class Store(EventStore, NotificationCursor, Protocol):
    """Every store implements both interfaces."""


CALLER = Caller(principal="arn:aws:iam::123456789012:user/tester", request_id="req-1")
PAYLOADS: list[Any] = [
    '{"orderId":42}',
    {"orderId": 42, "lines": [{"sku": "A", "qty": 2}], "note": "zürich ✓"},
    [1, 2.5, None, True],
    3.25,
    None,
    "",
]


def events(*types: str, payload: Any = None) -> list[NewEvent]:
    return [
        NewEvent(str(uuid.uuid4()), t, payload if payload is not None else {"n": i})
        for i, t in enumerate(types)
    ]


def new_stream(store: EventStore, stream_type: str = "order", count: int = 1) -> str:
    stream_id = str(uuid.uuid4())
    store.create(stream_type, stream_id, events(*["Created"] * count), CALLER)
    return stream_id


def all_events(store: EventStore, stream_type: str, stream_id: str, limit: int = 100) -> list[Any]:
    found: list[Any] = []
    after = 0
    while True:
        page = store.read(stream_type, stream_id, after, limit)
        found.extend(page.events)
        after = page.last_evaluated_revision
        if not page.has_more:
            return found


def test_create_then_read_returns_payloads_as_sent(store: EventStore) -> None:
    stream_id = str(uuid.uuid4())
    sent = [NewEvent(str(uuid.uuid4()), "Happened", payload) for payload in PAYLOADS]
    result = store.create("order", stream_id, sent, CALLER)
    assert result.stream.revision == len(PAYLOADS)
    assert not result.replayed
    read = all_events(store, "order", stream_id)
    assert [e.payload for e in read] == PAYLOADS
    assert [e.revision for e in read] == list(range(1, len(PAYLOADS) + 1))
    assert [e.event_id for e in read] == [e.event_id for e in sent]
    assert read[0].metadata == {"principal": CALLER.principal, "requestId": CALLER.request_id}


def test_appends_continue_gapless_from_the_expected_revision(store: EventStore) -> None:
    stream_id = new_stream(store)
    assert store.append("order", stream_id, 1, events("A"), CALLER).stream.revision == 2
    assert store.append("order", stream_id, 2, events("B", "C", "D"), CALLER).stream.revision == 5
    assert store.append("order", stream_id, ANY_REVISION, events("E"), CALLER).stream.revision == 6
    read = all_events(store, "order", stream_id)
    assert [e.revision for e in read] == [1, 2, 3, 4, 5, 6]
    assert [e.event_type for e in read] == ["Created", "A", "B", "C", "D", "E"]
    assert store.describe("order", stream_id).revision == 6


def test_stale_or_future_expected_revision_is_rejected_and_writes_nothing(store: EventStore) -> None:
    stream_id = new_stream(store, count=3)
    for expected in (0, 1, 2, 4, 99):
        with pytest.raises(WrongExpectedRevision) as raised:
            store.append("order", stream_id, expected, events("Late"), CALLER)
        assert raised.value.current == 3
    assert [e.event_type for e in all_events(store, "order", stream_id)] == ["Created"] * 3


def test_retry_of_a_successful_append_is_replayed_not_duplicated(store: EventStore) -> None:
    stream_id = new_stream(store)
    batch = events("A", "B")
    first = store.append("order", stream_id, 1, batch, CALLER)
    again = store.append("order", stream_id, 1, batch, Caller(CALLER.principal, "req-retry"))
    assert again.replayed
    assert again.stream == first.stream
    store.append("order", stream_id, 3, events("C"), CALLER)
    late_retry = store.append("order", stream_id, 1, batch, CALLER)
    assert late_retry.replayed
    assert late_retry.stream.revision == 3
    assert len(all_events(store, "order", stream_id)) == 4


def test_retry_of_an_any_append_is_replayed_while_it_is_the_newest(store: EventStore) -> None:
    stream_id = new_stream(store)
    batch = events("A")
    store.append("order", stream_id, ANY_REVISION, batch, CALLER)
    assert store.append("order", stream_id, ANY_REVISION, batch, CALLER).replayed
    assert store.describe("order", stream_id).revision == 2


def test_retry_of_an_any_append_after_other_appends_is_still_a_replay(store: EventStore) -> None:
    stream_id = new_stream(store)
    batch = events("A")
    store.append("order", stream_id, ANY_REVISION, batch, CALLER)
    store.append("order", stream_id, ANY_REVISION, events("B"), CALLER)
    retry = store.append("order", stream_id, ANY_REVISION, batch, CALLER)
    assert retry.replayed
    assert retry.stream.revision == 2
    assert [e.event_type for e in all_events(store, "order", stream_id)] == ["Created", "A", "B"]


def test_same_event_ids_with_other_content_conflict(store: EventStore) -> None:
    stream_id = new_stream(store)
    batch = events("A")
    store.append("order", stream_id, 1, batch, CALLER)
    altered = [NewEvent(batch[0].event_id, "A", {"different": True})]
    with pytest.raises(EventIdConflict):
        store.append("order", stream_id, 1, altered, CALLER)
    store.append("order", stream_id, 2, events("B"), CALLER)
    with pytest.raises(EventIdConflict):
        store.append("order", stream_id, 1, altered, CALLER)


def test_create_is_idempotent_and_refuses_an_existing_stream(store: EventStore) -> None:
    stream_id = str(uuid.uuid4())
    initial = events("Created")
    store.create("order", stream_id, initial, CALLER)
    assert store.create("order", stream_id, initial, CALLER).replayed
    store.append("order", stream_id, 1, events("A"), CALLER)
    with pytest.raises(StreamAlreadyExists) as raised:
        store.create("order", stream_id, events("Created"), CALLER)
    assert raised.value.current == 2


def test_a_stream_id_taken_by_another_type_is_refused_without_naming_that_type(
    store: EventStore,
) -> None:
    stream_id = str(uuid.uuid4())
    initial = events("Created")
    store.create("order", stream_id, initial, CALLER)
    store.append("order", stream_id, 1, events("A", "B"), CALLER)

    for attempt in (initial, events("Other")):  # the same events, or others
        with pytest.raises(StreamAlreadyExists) as raised:
            store.create("invoice", stream_id, attempt, CALLER)
        assert raised.value.current is None  # the other type's revision is not the caller's to see
        assert str(raised.value) == f"stream id {stream_id} is already used by another stream type"
        assert "order" not in str(raised.value)


def test_a_stream_is_invisible_under_another_type(store: EventStore) -> None:
    stream_id = new_stream(store, "order")
    with pytest.raises(StreamNotFound):
        store.describe("invoice", stream_id)
    with pytest.raises(StreamNotFound):
        store.read("invoice", stream_id, 0, 10)
    with pytest.raises(StreamNotFound):
        store.append("invoice", stream_id, 1, events("A"), CALLER)


def test_unknown_streams_are_not_found(store: EventStore) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(StreamNotFound):
        store.describe("order", unknown)
    with pytest.raises(StreamNotFound):
        store.read("order", unknown, 0, 10)
    with pytest.raises(StreamNotFound):
        store.read("order", unknown, 5, 10)
    with pytest.raises(StreamNotFound):
        store.append("order", unknown, 0, events("A"), CALLER)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 100])
def test_pages_cut_inside_commits_return_every_event_once(store: EventStore, limit: int) -> None:
    stream_id = new_stream(store)
    for size in (5, 1, 2, 4):
        current = store.describe("order", stream_id).revision
        store.append("order", stream_id, current, events(*["X"] * size), CALLER)
    read = all_events(store, "order", stream_id, limit)
    assert [e.revision for e in read] == list(range(1, 14))


def test_reading_past_the_end_is_an_empty_page_at_the_same_position(store: EventStore) -> None:
    stream_id = new_stream(store, count=2)
    page = store.read("order", stream_id, 2, 10)
    assert page.events == ()
    assert not page.has_more
    assert page.last_evaluated_revision == 2
    beyond = store.read("order", stream_id, 50, 10)
    assert beyond.events == ()
    assert beyond.last_evaluated_revision == 50


def text_of(size: int) -> str:
    """A JSON string payload of `size` characters that zlib cannot shrink much (base64 of random bytes)."""
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()[:size]


class Bucket(Protocol):
    """What the large-payload cases reach inside a store: its payload bucket."""

    payloads: PayloadObjects


@pytest.mark.parametrize("size", [1024 * 1024, 4_500_000], ids=["1MB", "4.5MB"])
def test_a_large_payload_round_trips_through_the_bucket(store: EventStore, size: int) -> None:
    stream_id = new_stream(store)
    payload = {"blob": text_of(size), "note": "zürich ✓"}
    store.append("order", stream_id, 1, [NewEvent(str(uuid.uuid4()), "Big", payload)], CALLER)
    read = all_events(store, "order", stream_id)
    assert read[1].payload == payload
    assert read[1].stored_ref is None


def test_many_medium_payloads_that_overflow_one_item_are_offloaded_whole(store: EventStore) -> None:
    stream_id = new_stream(store)
    # 100 distinct payloads of 8 KB, each below the offload threshold; together twice an item.
    sent = [NewEvent(str(uuid.uuid4()), "Medium", text_of(8000)) for _ in range(100)]
    assert store.append("order", stream_id, 1, sent, CALLER).stream.revision == 101
    assert [e.payload for e in all_events(store, "order", stream_id)[1:]] == [e.payload for e in sent]


def test_a_retried_large_append_is_replayed_and_reuses_its_object(store: EventStore) -> None:
    stream_id = new_stream(store)
    batch = [NewEvent(str(uuid.uuid4()), "Big", text_of(300_000))]
    store.append("order", stream_id, 1, batch, CALLER)
    assert store.append("order", stream_id, 1, batch, CALLER).replayed
    assert [e.payload for e in all_events(store, "order", stream_id)[1:]] == [batch[0].payload]


def test_a_page_of_large_payloads_ends_early_instead_of_failing(store: EventStore) -> None:
    stream_id = new_stream(store)
    sent = [text_of(2_500_000) for _ in range(3)]
    for revision, payload in enumerate(sent, start=1):
        store.append("order", stream_id, revision, [NewEvent(str(uuid.uuid4()), "Big", payload)], CALLER)
    first = store.read("order", stream_id, 0, 100)
    # 2 x 2.5 MB fit a response; the third would pass Lambda's 6 MB.
    assert [e.revision for e in first.events] == [1, 2, 3]
    assert first.has_more
    assert first.last_evaluated_revision == 3
    assert [e.payload for e in all_events(store, "order", stream_id)[1:]] == sent


def test_an_upload_that_fails_writes_nothing_and_a_retry_succeeds(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_id = new_stream(store)
    bucket = cast("Bucket", store).payloads
    batch = [NewEvent(str(uuid.uuid4()), "Big", text_of(500_000))]
    working = bucket.put

    def unavailable(key: str, body: bytes) -> None:
        raise ServiceUnavailable("S3 is unavailable (SlowDown)")

    monkeypatch.setattr(bucket, "put", unavailable)
    with pytest.raises(ServiceUnavailable):
        store.append("order", stream_id, 1, batch, CALLER)
    assert store.describe("order", stream_id).revision == 1
    monkeypatch.setattr(bucket, "put", working)
    assert not store.append("order", stream_id, 1, batch, CALLER).replayed
    assert all_events(store, "order", stream_id)[1].payload == batch[0].payload


def test_an_object_that_does_not_match_its_reference_is_an_error(store: EventStore) -> None:
    stream_id = new_stream(store)
    payload = text_of(200_000)
    store.append("order", stream_id, 1, [NewEvent(str(uuid.uuid4()), "Big", payload)], CALLER)
    stored = pack_payload(payload)
    cast("Bucket", store).payloads.put(object_key(stream_id, stored), stored[:-1] + b"x")
    with pytest.raises(StoredPayloadCorrupt):
        store.read("order", stream_id, 0, 100)


def test_a_large_payload_of_a_data_subject_is_sealed_in_the_bucket_and_erased(store: EventStore) -> None:
    stream_id = new_stream(store)
    subject = f"subject-{uuid.uuid4()}"
    marker = f"personal-{uuid.uuid4()}"
    payload = {"name": marker, "scan": text_of(300_000)}
    sent = NewEvent(str(uuid.uuid4()), "Big", payload, data_subject=subject)
    store.append("order", stream_id, 1, [sent], CALLER)
    assert all_events(store, "order", stream_id)[1].payload == payload
    bucket = cast("Bucket", store).payloads
    objects = getattr(bucket, "objects", None)
    if objects is not None:  # the memory bucket can be listed: nothing in it is plaintext
        assert objects
        assert not any(marker.encode() in body for body in objects.values())
    store.erase_data_subject(subject, CALLER)
    erased = all_events(store, "order", stream_id)[1]
    assert erased.payload is None
    assert erased.payload_erased


def test_commit_times_never_go_backwards(store: EventStore) -> None:
    stream_id = new_stream(store)
    for revision in range(1, 6):
        store.append("order", stream_id, revision, events("A"), CALLER)
    times = [e.created_at for e in all_events(store, "order", stream_id)]
    assert times == sorted(times)
    assert len(set(times)) == len(times)


# Summary: notify_stream's cursor ---------------------------------------------------------------------


def test_cursors_move_together_only_forward_and_from_where_they_were_read(store: Store) -> None:
    stream_id = new_stream(store)
    read = store.cursors([stream_id])[stream_id]
    assert read.notified == 0
    fed = max(read.fed, 1)
    assert store.move_cursors(stream_id, "order", fed, 1, read)
    now = store.cursors([stream_id])[stream_id]
    assert (now.fed, now.notified) == (fed, 1)
    # Another instance that read the cursors before this move loses.
    assert not store.move_cursors(stream_id, "order", 3, 3, read)
    # Fed never moves back.
    assert not store.move_cursors(stream_id, "order", 0, 2, now)
    # A fed cursor moved by a writer rolling the feed forward does not stop the notified cursor.
    store.advance_fed(stream_id, "order", 4)
    store.advance_fed(stream_id, "order", 2)
    assert store.cursors([stream_id])[stream_id].fed == 4
    assert store.move_cursors(stream_id, "order", 5, 5, now)
    assert store.cursors([stream_id, "unknown"]) == {
        stream_id: StreamCursors(5, 5),
        "unknown": StreamCursors(),
    }
    # The cursors are not a listing entry: the listing shows the stream's commits, notified or not.
    page = store.list_streams("order", None, 10, None)
    assert [(s.stream_id, s.revision) for s in page.streams] == [(stream_id, 1)]


# Listing -----------------------------------------------------------------------------


def all_streams(store: EventStore, stream_type: str, after: datetime | None, limit: int) -> list[Any]:
    found: list[Any] = []
    key = None
    while True:
        page = store.list_streams(stream_type, after, limit, key)
        assert len(page.streams) <= limit
        found.extend(page.streams)
        if not page.has_more:
            return found
        key = page.next_page_key


def listed(store: EventStore, stream_type: str, after: datetime | None, limit: int) -> list[str]:
    return [s.stream_id for s in all_streams(store, stream_type, after, limit)]


def test_listing_pages_by_update_time_and_filters_by_type(store: EventStore) -> None:
    ids = [new_stream(store, "cart") for _ in range(5)]
    other = new_stream(store, "invoice")
    assert listed(store, "cart", None, 2) == ids
    assert listed(store, "invoice", None, 2) == [other]
    assert listed(store, "cart", datetime.now(UTC) + timedelta(seconds=5), 2) == []
    assert listed(store, "cart", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 2) == []


def test_a_stream_updated_while_paging_is_listed_again_not_skipped(store: EventStore) -> None:
    ids = [new_stream(store, "basket") for _ in range(4)]
    first = store.list_streams("basket", None, 2, None)
    assert [s.stream_id for s in first.streams] == ids[:2]
    store.append("basket", ids[0], 1, events("Changed"), CALLER)
    rest: list[Any] = []
    key = first.next_page_key
    while key is not None:
        page = store.list_streams("basket", None, 2, key)
        rest.extend(page.streams)
        key = page.next_page_key
    assert [s.stream_id for s in rest] == [*ids[2:], ids[0]]
    assert rest[-1].revision == 2


def test_page_keys_are_tamper_evident(store: EventStore) -> None:
    for _ in range(3):
        new_stream(store, "ticket")
    key = store.list_streams("ticket", None, 1, None).next_page_key
    assert key is not None
    body, tag = key.split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + tag
    for bad in (forged, "garbage", key + "x"):
        with pytest.raises(InvalidRequest) as raised:
            store.list_streams("ticket", None, 1, bad)
        assert raised.value.params[0].name == "/query/stream-next-page-key"
    with pytest.raises(InvalidRequest):
        store.list_streams("other-type", None, 1, key)
    with pytest.raises(InvalidRequest) as raised:
        store.list_streams("ticket", datetime(2000, 1, 1, tzinfo=UTC), 1, key)
    assert "updated-after" in raised.value.params[0].reason


def test_a_stream_with_many_commits_is_listed_once_at_its_newest_revision(store: EventStore) -> None:
    busy, quiet = new_stream(store, "ledger"), new_stream(store, "ledger")
    for revision in range(1, 8):
        store.append("ledger", busy, revision, events("Posted"), CALLER)
    later = new_stream(store, "ledger")
    for limit in (1, 2, 3, 100):
        listing = all_streams(store, "ledger", None, limit)
        assert [(s.stream_id, s.revision) for s in listing] == [(quiet, 1), (busy, 8), (later, 1)], limit
    assert listing[1] == store.describe("ledger", busy)
    fourth = timefmt.parse(all_events(store, "ledger", busy)[3].created_at)
    assert listed(store, "ledger", fourth, 2) == [busy, later]


def test_a_poll_from_a_listings_horizon_lists_exactly_what_changed_after_it(store: EventStore) -> None:
    changed, quiet = new_stream(store, "crate"), new_stream(store, "crate")
    first = store.list_streams("crate", None, 10, None)
    assert [s.stream_id for s in first.streams] == [changed, quiet]
    assert first.settled_until is not None
    store.append("crate", changed, 1, events("Packed"), CALLER)
    created = new_stream(store, "crate")
    poll = all_streams(store, "crate", timefmt.parse(first.settled_until), 10)
    assert [(s.stream_id, s.revision) for s in poll] == [(changed, 2), (created, 1)]


# Feeds and checkpoints -------------------------------------------------------------------------------


class Feeds(FeedStore, EventStore, Protocol):
    """A store with feeds."""


def feed_events(
    store: Feeds, settle: Callable[[], None], stream_type: str | None = None, limit: int = 7, **filters: Any
) -> tuple[list[FeedEvent], list[str | None]]:
    """Every event of a feed from the beginning, page by page, and each page's lastPosition."""
    settle()
    found: list[FeedEvent] = []
    positions: list[str | None] = []
    after: str | None = None
    while True:
        page = store.read_feed(stream_type, after, limit, **filters)
        found.extend(page.events)
        positions.append(page.last_position)
        after = page.last_position
        if not page.has_more:
            return found, positions


def appended(store: Feeds, plan: list[tuple[str, list[str]]]) -> list[tuple[str, str, int, str]]:
    """Carry out (stream type, event types) appends on fresh streams and existing ones, alternating;
    (stream id, type, revision, event type) of every event, in append order."""
    streams: dict[str, list[str]] = {}
    written: list[tuple[str, str, int, str]] = []
    for index, (stream_type, types) in enumerate(plan):
        ids = streams.setdefault(stream_type, [])
        if index % 3 == 0 or not ids:
            stream_id = str(uuid.uuid4())
            result = store.create(stream_type, stream_id, events(*types), CALLER)
            ids.append(stream_id)
        else:
            stream_id = ids[index % len(ids)]
            result = store.append(stream_type, stream_id, ANY_REVISION, events(*types), CALLER)
        first = result.first_revision
        written.extend((stream_id, stream_type, first + i, t) for i, t in enumerate(types))
    return written


PLAN: list[tuple[str, list[str]]] = [
    ("order", ["Created"]),
    ("invoice", ["Issued", "Sent"]),
    ("order", ["Paid", "Shipped", "Paid"]),
    ("order", ["Created"]),
    ("invoice", ["Paid"]),
    ("order", ["Cancelled"]),
    ("invoice", ["Issued"]),
    ("order", ["Shipped", "Delivered"]),
]


def key(e: FeedEvent) -> tuple[str, str, int, str]:
    return (e.stream_id, e.stream_type, e.revision, e.event_type)


def test_feeds_hold_every_event_once_in_stream_order(fed: tuple[Feeds, Callable[[], None]]) -> None:
    store, settle = fed
    written = appended(store, PLAN)
    everything, positions = feed_events(store, settle)
    assert sorted(map(key, everything)) == sorted(written)
    for stream_type in ("order", "invoice"):
        typed, _ = feed_events(store, settle, stream_type, limit=2)
        assert [key(e) for e in typed] == [key(e) for e in everything if e.stream_type == stream_type]
    for stream_id in {w[0] for w in written}:
        revisions = [e.revision for e in everything if e.stream_id == stream_id]
        assert revisions == list(range(1, len(revisions) + 1))
    assert next(e.payload for e in everything if e.event_type == "Created") == {"n": 0}
    assert everything[0].metadata == {"principal": CALLER.principal, "requestId": CALLER.request_id}
    feed_positions = [e.position for e in everything]
    assert feed_positions == sorted(feed_positions)
    assert len(set(feed_positions)) == len(feed_positions)
    assert positions[-1] == feed_positions[-1]


def test_reading_again_from_any_earlier_position_returns_the_same_entries(
    fed: tuple[Feeds, Callable[[], None]],
) -> None:
    store, settle = fed
    appended(store, PLAN[:4])
    before, _ = feed_events(store, settle)
    appended(store, PLAN[4:])
    after_more, _ = feed_events(store, settle)
    assert after_more[: len(before)] == before
    for cut in range(len(before)):
        page = store.read_feed(None, before[cut].position, 1000)
        assert list(page.events) == after_more[cut + 1 :]
        assert not page.has_more


def test_filters_skip_entries_but_the_position_moves_on(fed: tuple[Feeds, Callable[[], None]]) -> None:
    store, settle = fed
    written = appended(store, PLAN)
    paid, positions = feed_events(store, settle, limit=2, event_types=frozenset({"Paid", "Sent"}))
    assert sorted(map(key, paid)) == sorted(w for w in written if w[3] in {"Paid", "Sent"})
    everything, _ = feed_events(store, settle)
    assert positions[-1] == everything[-1].position
    # A filter that matches nothing still scans to the end.
    page = store.read_feed(None, None, 1000, event_types=frozenset({"Nothing"}))
    assert (page.events, page.has_more, page.last_position) == ((), False, everything[-1].position)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_consumer_group_members_split_the_streams(fed: tuple[Feeds, Callable[[], None]], size: int) -> None:
    store, settle = fed
    appended(store, PLAN)
    everything, _ = feed_events(store, settle)
    parts = [feed_events(store, settle, limit=3, member=m, size=size)[0] for m in range(size)]
    assert sorted(key(e) for part in parts for e in part) == sorted(map(key, everything))
    owners = [{e.stream_id for e in part} for part in parts]
    assert sum(len(o) for o in owners) == len({e.stream_id for e in everything})
    for member, part in enumerate(parts):
        assert all(group_member(e.stream_id, size) == member for e in part)
        assert [e.position for e in part] == sorted(e.position for e in part)


def test_an_empty_feed_and_the_head(fed: tuple[Feeds, Callable[[], None]]) -> None:
    store, settle = fed
    settle()
    empty = store.read_feed("order", None, 10)
    assert (empty.events, empty.has_more, empty.last_position) == ((), False, None)
    appended(store, PLAN[:2])
    everything, _ = feed_events(store, settle)
    head = everything[-1].position
    at_head = store.read_feed(None, head, 10)
    assert (at_head.events, at_head.has_more, at_head.last_position) == ((), False, head)


def test_positions_of_another_feed_or_malformed_are_refused(fed: tuple[Feeds, Callable[[], None]]) -> None:
    store, settle = fed
    appended(store, PLAN[:2])
    everything, _ = feed_events(store, settle)
    for bad in ("", "nonsense", everything[0].position + "0", "0000000000-000000000000-000000"):
        with pytest.raises(BadPosition):
            store.read_feed(None, bad, 10)
    with pytest.raises(BadPosition) as raised:
        store.read_feed("order", everything[0].position, 10)
    assert raised.value.params[0].name == "/query/after-position"


def test_checkpoints_compare_and_set(fed: tuple[Feeds, Callable[[], None]]) -> None:
    store, settle = fed
    appended(store, PLAN[:3])
    first, second, third = (e.position for e in feed_events(store, settle)[0][:3])
    with pytest.raises(CheckpointNotFound):
        store.get_checkpoint("projector")
    with pytest.raises(CheckpointConflict) as missing:
        store.put_checkpoint("projector", first, second)
    assert missing.value.stored is None
    created = store.put_checkpoint("projector", first, None)
    assert (created.name, created.position) == ("projector", first)
    assert store.get_checkpoint("projector") == created
    with pytest.raises(CheckpointConflict) as exists:
        store.put_checkpoint("projector", second, None)
    assert exists.value.stored == first
    with pytest.raises(CheckpointConflict):
        store.put_checkpoint("projector", third, second)
    assert store.put_checkpoint("projector", second, first).position == second
    assert store.put_checkpoint("projector", first, NOT_GIVEN).position == first
    assert store.get_checkpoint("projector").position == first
    with pytest.raises(BadPosition):
        store.put_checkpoint("projector", "not-a-position", NOT_GIVEN)
    assert store.get_checkpoint("projector").position == first


def test_stream_types_are_listed_once_their_feed_has_begun(fed: tuple[Feeds, Callable[[], None]]) -> None:
    store, settle = fed
    settle()
    assert store.stream_types(None, 1000).stream_types == ()
    appended(store, PLAN)
    settle()
    first = {t.stream_type: t.first_seen_at for t in store.stream_types(None, 1000).stream_types}
    assert sorted(first) == ["invoice", "order"]
    more = [f"type.{n}" for n in range(5)]
    appended(store, [("order", ["Again"]), *((t, ["Created"]) for t in more)])
    settle()
    seen: list[str] = []
    after = None
    while True:
        page = store.stream_types(after, 2)
        assert len(page.stream_types) <= 2
        seen += [t.stream_type for t in page.stream_types]
        for t in page.stream_types:
            assert first.get(t.stream_type, t.first_seen_at) == t.first_seen_at  # first seen stays
        if not page.has_more:
            break
        after = page.last_stream_type
    assert sorted(seen) == sorted(["invoice", "order", *more])


def test_a_feed_page_of_large_payloads_ends_early_and_loads_them_inline(
    fed: tuple[Feeds, Callable[[], None]],
) -> None:
    store, settle = fed
    stream_id = new_stream(store, "scan")
    sent = [text_of(2_500_000) for _ in range(3)]
    for revision, payload in enumerate(sent, start=1):
        store.append("scan", stream_id, revision, [NewEvent(str(uuid.uuid4()), "Big", payload)], CALLER)
    settle()
    first = store.read_feed("scan", None, 100)
    assert [e.revision for e in first.events] == [1, 2, 3]
    assert first.has_more
    assert first.last_position == first.events[-1].position
    everything, _ = feed_events(store, settle, "scan", limit=100)
    assert [e.payload for e in everything[1:]] == sent
