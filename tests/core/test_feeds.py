"""Feed positions, items and the writer's splitting, apart from any store's I/O (eventstore.feeds)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstore import jsontext
from eventstore.commits import Commit, content_digest, decode_commit, encode_commit, item_size
from eventstore.domain import BadPosition, Caller, NewEvent
from eventstore.feeds import (
    ALL_FEED,
    MAX_ITEM_BYTES,
    MAX_ITEM_EVENTS,
    MAX_PAGE_BYTES,
    FeedItem,
    FeedRef,
    FeedWriter,
    StreamCursors,
    decode_item,
    decode_position,
    encode_item,
    encode_position,
    feed_key,
    group_member,
    split_items,
)
from eventstore.memory import MemoryEventStore

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

    with pytest.raises(Killed):
        FeedWriter(DiesAtSecondPut()).feed(list(commits), lambda _: commits)
    first = puts[0]
    fed = log.cursors([r.stream_id for r in first.refs])
    assert all(fed[r.stream_id].fed == r.last_revision for r in first.refs)

    writer = FeedWriter(log)
    writer.finish(writer.feed(list(commits), lambda _: commits))
    everything = [r.stream_id for item in log.items(ALL_FEED, 1, 100) for r in item.refs]
    assert sorted(everything) == sorted(commits)
    typed = [r.stream_id for item in log.items(feed_key("order"), 1, 100) for r in item.refs]
    assert typed == everything


def test_a_page_stops_before_its_payloads_pass_the_byte_budget() -> None:
    """The budget counts the payloads' and metadata's texts as stored (a page is not rendered twice to size
    it); incompressible 300 KB payloads reach it in 17 events, so a page of 1,000 stops early."""
    store = MemoryEventStore()
    caller = Caller(None, None)
    for _ in range(25):
        text = os.urandom(150 * 1024).hex()
        store.create("order", str(uuid.uuid4()), [NewEvent(str(uuid.uuid4()), "Big", {"b": text})], caller)
    first = store.read_feed(None, None, 1000)
    rendered = sum(len(jsontext.dumps(e.payload)) + len(jsontext.dumps(e.metadata)) for e in first.events)
    assert first.has_more
    assert 0 < rendered <= MAX_PAGE_BYTES < rendered + 310 * 1024
    assert first.last_position == first.events[-1].position
    rest = store.read_feed(None, first.last_position, 1000)
    assert len(first.events) + len(rest.events) == 25
