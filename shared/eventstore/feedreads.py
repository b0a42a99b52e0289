"""Reading feeds: a page of events after a position (filtered by event type and consumer group), and what
the feed and stream-type reads return (docs/design.md, "Feeds"; the items' format is eventstore.feeds)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from eventstore.commits import Commit
from eventstore.domain import BadPosition, InvalidRequest, JsonValue, RecordedEvent
from eventstore.feeds import (
    ALL_FEED,
    END_OFFSET,
    FeedIndex,
    FeedItem,
    FeedRef,
    block_of,
    block_range,
    feed_key,
    legacy_type_feed,
)
from eventstore.payloads import PAGE_BUDGET_BYTES, response_bytes
from eventstore.positions import decode_position, encode_position, feed_tag, parse_position

INDEX_LOOKAHEAD: Final = 10
"""Blocks whose indexes a type's page asks for at once (one BatchGetItem of their opening items)."""

MAX_STREAM_TYPES_PAGE: Final = 1000

MAX_PAGE_EVENTS: Final = 1000
SCAN_BUDGET_FACTOR: Final = 10
"""A page scans at most this many entries per event asked for, so a filtered page returns promptly."""

MAX_QUERY_ITEMS: Final = 100
"""Items one page Query asks for at most (DynamoDB returns at most 1 MB anyway)."""

FIRST_QUERY_ITEMS: Final = 4
"""Items a page reads first, before it knows how many events the feed's items hold."""

MAX_GROUP_SIZE: Final = 64


# Consumer groups -------------------------------------------------------------------------------------


def group_member(stream_id: str, size: int) -> int:
    """The member of a consumer group of `size` that owns a stream: the first 8 bytes of SHA-256 of the
    stream id, big-endian, modulo the size. Stable: consumers may rely on it."""
    return int.from_bytes(hashlib.sha256(stream_id.encode()).digest()[:8], "big") % size


def check_group(member: int | None, size: int | None) -> None:
    if member is None and size is None:
        return
    if member is None or size is None:
        raise InvalidRequest.single(
            "/query/consumer-group-member", "consumer-group-member and consumer-group-size go together"
        )
    if not 0 < size <= MAX_GROUP_SIZE:
        raise InvalidRequest.single("/query/consumer-group-size", f"must be 1 to {MAX_GROUP_SIZE}")
    if not 0 <= member < size:
        raise InvalidRequest.single("/query/consumer-group-member", "must be 0 to consumer-group-size - 1")


# What the feed and stream-type reads return ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event as a feed returns it: where it is in the feed, and the event itself."""

    position: str
    stream_id: str
    stream_type: str
    revision: int
    event_id: str
    event_type: str
    payload: JsonValue
    metadata: dict[str, JsonValue]
    created_at: str
    data_subject: str | None = None
    payload_erased: bool = False
    """The subject's key is destroyed: `payload` is None for good."""


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: tuple[FeedEvent, ...]
    has_more: bool
    last_position: str | None
    """The position of the last entry the page scanned (filters may have skipped it); on an empty page at
    the head, the position the read started after (None when it started at the beginning)."""


@dataclass(frozen=True, slots=True)
class StreamTypeInfo:
    stream_type: str
    first_seen_at: str
    """When the type's feed got its first item (shortly after its first stream was created)."""


@dataclass(frozen=True, slots=True)
class StreamTypePage:
    stream_types: tuple[StreamTypeInfo, ...]
    """In the registry's order (by a hash of the name), not by name."""
    has_more: bool
    last_stream_type: str | None
    """Pass it back as `after-stream-type` to read on; None on an empty page."""


# The reader ------------------------------------------------------------------------------------------


class FeedSource(Protocol):
    """What a page read needs from a store (eventually consistent reads are fine)."""

    def items(self, feed: str, first: int, limit: int) -> list[FeedItem]:
        """Up to `limit` items with k >= first, ascending."""
        ...

    def items_at(self, sequences: Sequence[int]) -> dict[int, FeedItem]:
        """The all-types items at these k (which exist: an index named them)."""
        ...

    def indexes(self, first: int, limit: int) -> list[FeedIndex]:
        """The indexes of blocks first .. first + limit - 1 whose opening item exists (types None: it
        holds no index), ascending."""
        ...

    def commits(self, keys: Collection[tuple[str, int]]) -> dict[tuple[str, int], Commit]:
        """The commits at these (stream id, first revision) keys, with only their visible events
        (docs/design.md, "Lifecycle"); a deleted one, or one with no visible event, is absent."""
        ...


class _Entry(NamedTuple):
    """A page's scan position (the reader's own record, not a value it returns: a NamedTuple costs a fifth of
    a dataclass to create at init)."""

    sequence: int
    offset: int
    ref: FeedRef | None
    """None: no event, a mark that the page scanned through item `sequence` (offset END_OFFSET)."""

    event_index: int
    """The event's index within its commit."""


class _Pace:
    """How many items to read next: enough for the entries still wanted at the entries per item seen so
    far (+1), so a page of big items does not read a hundred of them for a thousand events; past what was
    wanted (a filtered page reads on) it doubles."""

    def __init__(self, wanted: int) -> None:
        self._wanted = wanted
        self._items = 0
        self._entries = 0

    def next(self) -> int:
        if not self._items:
            return FIRST_QUERY_ITEMS
        left = self._wanted - self._entries if self._entries < self._wanted else self._entries
        per_item = max(1.0, self._entries / self._items)
        return min(MAX_QUERY_ITEMS, math.ceil(left / per_item) + 1)

    def saw(self, entries: int) -> None:
        self._items += 1
        self._entries += entries


def _items(
    source: FeedSource, stream_type: str | None, sequence: int, wanted: int
) -> Iterator[_Entry | None]:
    """The feed's entries from all-types item `sequence` on; None where a hole (not yet visible) ends what
    can be read now. A type's feed skips, by the block index, the items that do not hold the type (a mark
    at the end of each indexed block), and reads the rest of the sequence (the open block, or one whose
    index it does not see yet) item by item. Items are read at the pace `wanted` entries need."""
    expected = sequence
    pace = _Pace(wanted)
    indexes: dict[int, FeedIndex] = {}
    looked_up = range(0)
    while True:
        room = MAX_QUERY_ITEMS
        if stream_type is not None:
            block = block_of(expected)
            if block not in looked_up:
                looked_up = range(block, block + INDEX_LOOKAHEAD)
                indexes = {i.block: i for i in source.indexes(block, INDEX_LOOKAHEAD)}
            index = indexes.get(block)
            if index is not None and index.types is not None:
                named = [k for k in index.types.get(stream_type, ()) if k >= expected]
                if not (yield from _named(source, named, stream_type, pace)):
                    yield None
                    return
                expected = block_range(block)[1] + 1
                yield _Entry(expected - 1, END_OFFSET, None, 0)
                continue
            room = block_range(block)[1] - expected + 1  # then the next block's index is looked up
        items = source.items(ALL_FEED, expected, min(pace.next(), room))
        if not items:
            return
        for item in items:
            if item.sequence != expected:
                yield None
                return
            yield from _paced(item, stream_type, pace)
            expected += 1


def _named(
    source: FeedSource, named: list[int], stream_type: str, pace: _Pace
) -> Generator[_Entry, None, bool]:
    """The entries of the items an index named; False if one of them could not be read."""
    while named:
        count = pace.next()
        chunk, named = named[:count], named[count:]
        found = source.items_at(chunk)
        for k in chunk:
            if k not in found:
                return False
            yield from _paced(found[k], stream_type, pace)
    return True


def _paced(item: FeedItem, stream_type: str | None, pace: _Pace) -> list[_Entry]:
    entries = list(_item_entries(item, stream_type))
    pace.saw(len(entries))
    return entries


def _item_entries(item: FeedItem, stream_type: str | None) -> Iterator[_Entry]:
    """The item's events of the type (all for None) at their offsets in the item; a mark if none."""
    offset = 0
    found = False
    for ref in item.refs:
        if stream_type is None or ref.stream_type == stream_type:
            found = True
            for index in range(len(ref.event_types)):
                yield _Entry(item.sequence, offset + index, ref, index)
        offset += len(ref.event_types)
    if not found:
        yield _Entry(item.sequence, END_OFFSET, None, 0)


def start_of(source: FeedSource, stream_type: str | None, after: str | None) -> tuple[int, int]:
    """(k, offset) a page starts after: the position's own, or, for a type feed's position handed out
    before the block index (the legacy tag), the same event's place in the all-types item."""
    if after is None:
        return 1, -1
    if stream_type is not None:
        tag, sequence, offset = parse_position(after, POSITION_POINTER)
        if tag == feed_tag(legacy_type_feed(stream_type)):
            return _translate(source, stream_type, sequence, offset, after)
    return decode_position(feed_key(stream_type), after)


POSITION_POINTER: Final = "/query/after-position"


def _translate(
    source: FeedSource, stream_type: str, sequence: int, offset: int, position: str
) -> tuple[int, int]:
    gone = BadPosition(
        position, "a position of this type's feed from before its index, no longer held", POSITION_POINTER
    )
    old = source.items(legacy_type_feed(stream_type), sequence, 1)
    if not old or old[0].sequence != sequence or old[0].source is None or offset >= old[0].events:
        raise gone
    events = [(ref, index) for ref in old[0].refs for index in range(len(ref.event_types))]
    ref, index = events[offset]
    whole = source.items(ALL_FEED, old[0].source, 1)
    if not whole or whole[0].sequence != old[0].source:
        raise gone
    at = 0
    for candidate in whole[0].refs:
        if (candidate.stream_id, candidate.first_revision) == (ref.stream_id, ref.first_revision):
            return whole[0].sequence, at + index
        at += len(candidate.event_types)
    raise gone


def read_page(
    source: FeedSource,
    stream_type: str | None,
    after: str | None,
    limit: int,
    *,
    event_types: frozenset[str] | None = None,
    member: int | None = None,
    size: int | None = None,
    open_commit: Callable[[Commit], Commit] = lambda commit: commit,
) -> FeedPage:
    """One page of a feed after a position: at most `limit` events, a scan budget of entries and a byte
    budget of payload; lastPosition is the last entry scanned. `open_commit` is the read paths' one step
    after decoding (eventstore.erasure: sealed payloads opened, or marked erased)."""
    feed = feed_key(stream_type)
    check_group(member, size)
    start = start_of(source, stream_type, after)
    limit = max(1, min(limit, MAX_PAGE_EVENTS))
    budget = SCAN_BUDGET_FACTOR * limit
    chosen: list[_Entry] = []
    scanned = 0
    last: _Entry | None = None
    has_more = False
    for entry in _items(source, stream_type, start[0], limit + 1):
        if entry is not None and (entry.sequence, entry.offset) <= start:
            continue
        if entry is None or scanned == budget or len(chosen) == limit:
            has_more = True
            break
        scanned += 1
        last = entry
        if entry.ref is None:
            continue
        if event_types is not None and entry.ref.event_types[entry.event_index] not in event_types:
            continue
        if size is not None and group_member(entry.ref.stream_id, size) != member:
            continue
        chosen.append(entry)
    events, cut = _events(source, feed, chosen, open_commit)
    if cut is not None:
        return FeedPage(tuple(events), has_more=True, last_position=cut)
    last_position = encode_position(feed, last.sequence, last.offset) if last is not None else after
    return FeedPage(tuple(events), has_more=has_more, last_position=last_position)


def _event_at(commit: Commit, revision: int) -> RecordedEvent | None:
    return next((e for e in commit.events if e.revision == revision), None)


def _events(
    source: FeedSource,
    feed: str,
    chosen: Sequence[_Entry],
    open_commit: Callable[[Commit], Commit],
) -> tuple[list[FeedEvent], str | None]:
    """The chosen entries' events (a deleted stream's are skipped), and where the byte budget cut the page
    (None: not cut)."""
    found = source.commits({(e.ref.stream_id, e.ref.first_revision) for e in chosen if e.ref is not None})
    # Opened as the page reaches them: a page cut by the budget loads no object it does not return.
    opened: dict[tuple[str, int], Commit] = {}
    events: list[FeedEvent] = []
    total = 0
    for entry in chosen:
        if entry.ref is None:
            continue
        key = (entry.ref.stream_id, entry.ref.first_revision)
        if key not in found:
            continue
        if key not in opened:
            opened[key] = open_commit(found[key])
        commit = opened[key]
        # A store leaves out events that are not visible (deleted, truncated, past retention).
        event = _event_at(commit, entry.ref.first_revision + entry.event_index)
        if event is None:
            continue
        total += response_bytes(event)
        if total > PAGE_BUDGET_BYTES and events:
            return events, events[-1].position
        events.append(
            FeedEvent(
                position=encode_position(feed, entry.sequence, entry.offset),
                stream_id=commit.stream_id,
                stream_type=commit.stream_type,
                revision=event.revision,
                event_id=event.event_id,
                event_type=event.event_type,
                payload=event.payload,
                metadata=event.metadata,
                created_at=event.created_at,
                data_subject=event.data_subject,
                payload_erased=event.payload_erased,
            )
        )
    return events, None
