"""Feed positions, items and the writer's splitting, apart from any store's I/O (eventstore.feeds)."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Collection, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstore import jsontext
from eventstore.appends import NewEvent
from eventstore.commits import Commit, content_digest, decode_commit, encode_commit, item_size
from eventstore.domain import BadPosition, Caller
from eventstore.feedreads import group_member, read_page
from eventstore.feeds import (
    ALL_FEED,
    MAX_ITEM_BYTES,
    MAX_ITEM_EVENTS,
    FeedIndex,
    FeedItem,
    FeedRef,
    decode_item,
    encode_item,
    feed_key,
    legacy_type_feed,
    split_items,
)
from eventstore.feedwriter import FeedWriter, StreamCursors
from eventstore.memory import MemoryEventStore
from eventstore.payloads import PAGE_BUDGET_BYTES
from eventstore.positions import decode_position, encode_position

places = st.tuples(st.integers(1, 10**12 - 1), st.integers(0, MAX_ITEM_EVENTS - 1))


@given(first=places, second=places)
def test_positions_sort_byte_wise_in_feed_order(first: tuple[int, int], second: tuple[int, int]) -> None:
    a, b = encode_position(ALL_FEED, *first), encode_position(ALL_FEED, *second)
    assert (a.encode() < b.encode()) == (first < second)
    assert decode_position(ALL_FEED, a) == first


def test_a_position_is_refused_by_another_feed_and_when_malformed() -> None:
    position = encode_position(feed_key("order"), 3, 1)
    assert decode_position(feed_key("order"), position) == (3, 1)
    for feed in (ALL_FEED, feed_key("invoice")):
        with pytest.raises(BadPosition):
            decode_position(feed, position)
    for bad in ("", position.upper(), position + "-1", position.replace("-000000000003-", "-000000000000-")):
        with pytest.raises(BadPosition):
            decode_position(feed_key("order"), bad)


def test_the_consumer_group_hash_is_the_documented_one() -> None:
    # First 8 bytes of SHA-256 of the stream id, big-endian, modulo the size: consumers rely on it.
    stream_id = "5f0c6c1e-8a4b-4c3e-9d2a-1b7e3f9a6c01"
    assert [group_member(stream_id, n) for n in (1, 2, 3, 7, 64)] == [0, 0, 0, 6, 38]


def commit(stream_type: str, events: int, first: int = 1, stream_id: str | None = None) -> Commit:
    sent = [NewEvent(str(uuid.uuid4()), f"Type{i % 3}", {}) for i in range(events)]
    return decode_commit(
        encode_commit(
            stream_type,
            stream_id or str(uuid.uuid4()),
            first,
            sent,
            committed_at="2030-01-01T00:00:00.000000Z",
            digest=content_digest(sent),
            caller=Caller(None, None),
        )
    )


def test_items_split_within_their_caps_and_keep_the_order() -> None:
    refs = [FeedRef.of(commit("order", 100)) for _ in range(150)]
    items = split_items(ALL_FEED, 7, refs, "2030-01-01T00:00:00.000000Z")
    assert len(items) > 1
    assert [i.sequence for i in items] == list(range(7, 7 + len(items)))
    assert [r for i in items for r in i.refs] == refs
    for item in items:
        encoded = encode_item(item)
        assert item.events <= MAX_ITEM_EVENTS
        assert item_size(encoded) <= MAX_ITEM_BYTES
        assert decode_item(encoded) == item


def test_a_batch_split_over_several_items_completes_each_before_the_next() -> None:
    """A writer killed after the second of its items must leave the first one's streams fed: else the next
    writer (which completes only the head) would feed them again."""
    log = MemoryEventStore()
    commits = {c.stream_id: [c] for c in (commit("order", 100) for _ in range(150))}
    puts: list[FeedItem] = []

    class Killed(Exception):
        pass

    class DiesAtSecondPut:
        def put(self, item: FeedItem) -> bool:
            if item.feed == ALL_FEED and puts:
                log.put(item)
                raise Killed
            if item.feed == ALL_FEED:
                puts.append(item)
            return log.put(item)

        def head(self, feed: str) -> FeedItem | None:
            return log.head(feed)

        def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
            return log.cursors(stream_ids)

        def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
            log.advance_fed(stream_id, stream_type, revision)

        def block(self, first: int, last: int) -> list[FeedItem]:
            return log.block(first, last)

    with pytest.raises(Killed):
        FeedWriter(DiesAtSecondPut()).feed(list(commits), lambda _: commits)
    first = puts[0]
    fed = log.cursors([r.stream_id for r in first.refs])
    assert all(fed[r.stream_id].fed == r.last_revision for r in first.refs)

    writer = FeedWriter(log)
    writer.finish(writer.feed(list(commits), lambda _: commits))
    items = log.items(ALL_FEED, 1, 100)
    everything = [r.stream_id for item in items for r in item.refs]
    assert sorted(everything) == sorted(commits)
    typed = [e.stream_id for e in log.read_feed("order", None, 1000).events]
    assert typed == [e.stream_id for e in log.read_feed(None, None, 1000).events]


def test_a_page_stops_before_its_payloads_pass_the_byte_budget() -> None:
    """The budget (what fits Lambda's response) counts the payloads' and metadata's texts as stored or
    loaded (a page is not rendered twice to size it); 300 KB payloads reach it in 20 events, so a page of
    1,000 stops early."""
    store = MemoryEventStore()
    caller = Caller(None, None)
    for _ in range(25):
        text = os.urandom(150 * 1024).hex()
        store.create("order", str(uuid.uuid4()), [NewEvent(str(uuid.uuid4()), "Big", {"b": text})], caller)
    first = store.read_feed(None, None, 1000)
    rendered = sum(len(jsontext.dumps(e.payload)) + len(jsontext.dumps(e.metadata)) for e in first.events)
    assert first.has_more
    assert 0 < rendered <= PAGE_BUDGET_BYTES < rendered + 320 * 1024
    assert first.last_position == first.events[-1].position
    rest = store.read_feed(None, first.last_position, 1000)
    assert len(first.events) + len(rest.events) == 25


def _typed_store(commits: int) -> MemoryEventStore:
    """Commits of types a (2 of 3) and b, one per all-types item: blocks of 2 (conftest) close often."""
    store = MemoryEventStore()
    for i in range(commits):
        sent = [NewEvent(str(uuid.uuid4()), "X", {"i": i}), NewEvent(str(uuid.uuid4()), "Y", {"i": i})]
        store.create("a" if i % 3 else "b", str(uuid.uuid4()), sent, Caller(None, None))
    return store


def _paged(store: object, stream_type: str | None, limit: int) -> list[tuple[str, int]]:
    source: Any = store
    found, after = [], None
    while True:
        page = read_page(source, stream_type, after, limit)
        found += [(e.position, e.payload["i"]) for e in page.events]
        assert page.last_position is not None or not page.events
        after = page.last_position
        if not page.has_more:
            return found


class Unindexed:
    """The store's items and commits, with the index not (yet) visible, or with blocks too varied to index."""

    def __init__(self, store: MemoryEventStore, *, hide: bool) -> None:
        self._store = store
        self._hide = hide

    def items(self, feed: str, first: int, limit: int) -> list[FeedItem]:
        return self._store.items(feed, first, limit)

    def items_at(self, sequences: Sequence[int]) -> dict[int, FeedItem]:
        return self._store.items_at(sequences)

    def indexes(self, first: int, limit: int) -> list[FeedIndex]:
        found = self._store.indexes(first, limit)
        return [] if self._hide else [FeedIndex(i.block, None) for i in found]

    def commits(self, keys: Collection[tuple[str, int]]) -> dict[tuple[str, int], Commit]:
        return self._store.commits(keys)


@pytest.mark.parametrize("hide", [True, False])
def test_a_type_feed_is_the_same_without_its_index(hide: bool) -> None:  # noqa: FBT001
    store = _typed_store(11)
    assert store.indexes(1, 100)  # the blocks were indexed
    for stream_type in ("a", "b"):
        for limit in (1, 3, 1000):
            expected = _paged(store, stream_type, limit)
            assert _paged(Unindexed(store, hide=hide), stream_type, limit) == expected
            assert [i for _, i in expected] == [
                i for i in range(11) for _ in "XY" if (i % 3 > 0) == (stream_type == "a")
            ]


def test_a_type_feed_is_the_all_types_feed_filtered_at_the_same_places() -> None:
    store = _typed_store(9)
    everything = store.read_feed(None, None, 1000).events
    for stream_type in ("a", "b"):
        typed = store.read_feed(stream_type, None, 1000).events
        assert [(e.stream_id, e.revision) for e in typed] == [
            (e.stream_id, e.revision) for e in everything if e.stream_type == stream_type
        ]
        # Same item and offset; the tag tells the feeds apart.
        assert [p.position[10:] for p in typed] == [
            e.position[10:] for e in everything if e.stream_type == stream_type
        ]


def test_a_type_feed_position_from_before_the_index_is_translated() -> None:
    """Type feeds had items of their own (k per type, `source` = the all-types item): a position or
    checkpoint handed out then resumes at the same event."""
    store = _typed_store(9)
    everything = store.read_feed(None, None, 1000).events
    for k, item in enumerate(
        (i for i in store.items(ALL_FEED, 1, 100) if any(r.stream_type == "a" for r in i.refs)), start=1
    ):
        refs = tuple(r for r in item.refs if r.stream_type == "a")
        assert store.put(FeedItem(legacy_type_feed("a"), k, refs, item.written_at, source=item.sequence))
    typed = store.read_feed("a", None, 1000).events
    for k, legacy in enumerate(store.items(legacy_type_feed("a"), 1, 100), start=1):
        for offset in range(legacy.events):
            old = encode_position(legacy_type_feed("a"), k, offset)
            resumed = store.read_feed("a", old, 1000).events
            before = typed[: len(typed) - len(resumed)]
            assert resumed == typed[len(before) :]
            ref, index = [(r, i) for r in legacy.refs for i in range(len(r.event_types))][offset]
            assert (before[-1].stream_id, before[-1].revision) == (ref.stream_id, ref.first_revision + index)
    assert len(everything) > len(typed)
    with pytest.raises(BadPosition):
        store.read_feed("a", encode_position(legacy_type_feed("a"), 99, 0), 10)
    with pytest.raises(BadPosition):
        store.read_feed("b", encode_position(legacy_type_feed("a"), 1, 0), 10)


class Counting(Unindexed):
    """The store's feed, counting the all-types items each read returns."""

    def __init__(self, store: MemoryEventStore) -> None:
        super().__init__(store, hide=False)
        self.read = 0

    def items(self, feed: str, first: int, limit: int) -> list[FeedItem]:
        found = super().items(feed, first, limit)
        self.read += len(found)
        return found

    def items_at(self, sequences: Sequence[int]) -> dict[int, FeedItem]:
        found = super().items_at(sequences)
        self.read += len(found)
        return found

    def indexes(self, first: int, limit: int) -> list[FeedIndex]:
        return self._store.indexes(first, limit)


def test_a_page_reads_the_items_its_events_need_not_a_hundred() -> None:
    """Items of 500 events: a page of 1,000 reads the first few, not MAX_QUERY_ITEMS of them (which a
    notify batch of 100 commits makes 100 KB each)."""
    store = MemoryEventStore()
    for _ in range(30):
        sent = [NewEvent(str(uuid.uuid4()), "X", {}) for _ in range(500)]
        store.create("order", str(uuid.uuid4()), sent, Caller(None, None))
    for stream_type in (None, "order"):
        source = Counting(store)
        page = read_page(source, stream_type, None, 1000)
        assert len(page.events) == 1000
        assert source.read <= 4


def _given(commits: dict[str, list[Commit]], _cursors: object) -> dict[str, list[Commit]]:
    return commits


def test_items_opening_blocks_carry_the_index_of_the_block_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 (conftest), an item per commit: batches whose items cross block boundaries index the
    block before from the stored items and from their own."""
    monkeypatch.setattr("eventstore.feeds.MAX_ITEM_EVENTS", 2)
    log = MemoryEventStore()
    writer = FeedWriter(log)
    types = ["order", "invoice", "order", "order", "parcel", "invoice", "order", "order", "parcel", "order"]
    for batch in (types[:7], types[7:]):
        commits = {c.stream_id: [c] for c in (commit(t, 2) for t in batch)}
        writer.finish(writer.feed(list(commits), functools.partial(_given, commits)))
    items = log.items(ALL_FEED, 1, 100)
    assert [i.stream_types() for i in items] == [[t] for t in types]
    for item in items:
        if item.sequence % 2 == 1 and item.sequence > 1:
            before = [item.sequence - 2, item.sequence - 1]
            expected: dict[str, tuple[int, ...]] = {}
            for k in before:
                expected[types[k - 1]] = (*expected.get(types[k - 1], ()), k)
            assert item.block_index == expected
        else:
            assert item.block_index is None
