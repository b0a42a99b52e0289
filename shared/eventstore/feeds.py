"""Feeds: every commit's events in one all-types feed, at positions handed out in sequence by an
idempotent, roll-forward writer; a type's feed is that sequence filtered by type, found through a block
index (docs/design.md, "Feeds").

Item k of the all-types feed holds references to commits (never payloads), so deleting or erasing a commit
removes it from every feed. The writer appends item k + 1 only after item k's effects are complete (its
streams' fed cursors moved), so only the head can have unfinished effects, and every writer finishes them
first: the sequence has no holes, items never change, and nothing is ever inserted before a position
already handed out. The item that opens a block of BLOCK_ITEMS items also carries the index of the block
before it (which of its items hold each stream type): that block is closed and immutable, so the index is
fixed, costs no write of its own, and decides nothing — a reader without it reads the block's items. Both
stores run this module's writer and reader over their own FeedLog and FeedSource.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from eventstore import timefmt
from eventstore.commits import Commit, item_size
from eventstore.domain import BadPosition, InvalidRequest, JsonValue, RecordedEvent
from eventstore.payloads import PAGE_BUDGET_BYTES, response_bytes

if TYPE_CHECKING:
    from eventstore.commits import Item

ALL_FEED: Final = "$feed"
"""The all-types feed's key (stream ids are UUIDs, so no stream key starts with "$")."""

BLOCK_ITEMS: Final = 100
"""All-types items per block: block b is items (b - 1) * BLOCK_ITEMS + 1 .. b * BLOCK_ITEMS, and item
b * BLOCK_ITEMS + 1 carries its index. Part of the stored format: changing it needs a new attribute name."""

MAX_INDEX_BYTES: Final = 64 * 1024
"""A block index larger than this (a block of very many types) is left out: readers of the block read its
items instead."""

INDEX_LOOKAHEAD: Final = 10
"""Blocks whose indexes a type's page asks for at once (one BatchGetItem of their opening items)."""

LEGACY_TYPE_PREFIX: Final = "$feed:"
"""Type feeds' own items, written before the block index (k per type, `source` = all-types k). Kept for
the positions handed out then, which are translated to the all-types items they point into."""

END_OFFSET: Final = 999_999
"""The offset of a position after every event of its item (a page that scanned past events of other
types ends there)."""

CHECKPOINT_PREFIX: Final = "$checkpoint:"

STREAM_TYPES_KEY: Final = "$stream-types"
"""The registry of stream types: one item per type, written when its feed gets its first item."""

MAX_STREAM_TYPES_PAGE: Final = 1000

MAX_ITEM_BYTES: Final = 100 * 1024
"""A feed item is split before it grows past this (a write unit per KB; reads of the head stay cheap)."""

MAX_ITEM_EVENTS: Final = 10_000
"""...or past this many events (the position's offset has room for 10**6)."""

MAX_PAGE_EVENTS: Final = 1000
SCAN_BUDGET_FACTOR: Final = 10
"""A page scans at most this many entries per event asked for, so a filtered page returns promptly."""

MAX_QUERY_ITEMS: Final = 100
"""Items one page Query asks for at most (DynamoDB returns at most 1 MB anyway)."""

FIRST_QUERY_ITEMS: Final = 4
"""Items a page reads first, before it knows how many events the feed's items hold."""

MAX_GROUP_SIZE: Final = 64
WRITE_ATTEMPTS: Final = 5

_POSITION: Final = re.compile(r"([0-9a-f]{10})-([0-9]{12})-([0-9]{6})", re.ASCII)


def feed_key(stream_type: str | None) -> str:
    """The name a feed's positions are tagged with: the all-types feed (None) or one stream type's. Type
    feeds' positions name all-types items; `$type:` (not the legacy `$feed:`) gives them a tag of their own,
    so a position handed out before the block index is told apart and translated, never misread."""
    return ALL_FEED if stream_type is None else f"$type:{stream_type}"


def legacy_type_feed(stream_type: str) -> str:
    return LEGACY_TYPE_PREFIX + stream_type


def block_of(sequence: int) -> int:
    return (sequence - 1) // BLOCK_ITEMS + 1


def block_range(block: int) -> tuple[int, int]:
    """The first and last all-types k of a block."""
    return (block - 1) * BLOCK_ITEMS + 1, block * BLOCK_ITEMS


def checkpoint_key(name: str) -> str:
    return CHECKPOINT_PREFIX + name


def stream_type_number(stream_type: str) -> int:
    """The registry item's sort key: 120 bits of SHA-256 of the name (a DynamoDB number holds 38 digits;
    a collision is as likely as guessing a random 120-bit key)."""
    return int.from_bytes(hashlib.sha256(stream_type.encode()).digest()[:15], "big")


# Positions -------------------------------------------------------------------------------------------


def feed_tag(feed: str) -> str:
    """The feed's tag in its positions: a position from one feed is refused by another."""
    return hashlib.sha256(feed.encode()).hexdigest()[:10]


def encode_position(feed: str, sequence: int, offset: int) -> str:
    """`<tag>-<item k, 12 digits>-<event offset in item k, 6 digits>`: byte-wise increasing in feed order."""
    return f"{feed_tag(feed)}-{sequence:012d}-{offset:06d}"


def decode_position(feed: str, position: str, pointer: str = "/query/after-position") -> tuple[int, int]:
    """(item k, offset) of a position of this feed; BadPosition if malformed or of another feed."""
    tag, sequence, offset = _parse(position, pointer)
    if tag != feed_tag(feed):
        raise BadPosition(position, "the position belongs to another feed", pointer)
    return sequence, offset


def check_position(position: str, pointer: str) -> None:
    """Refuse a string that is not a position of any feed (checkpoints store positions of any feed)."""
    _parse(position, pointer)


def _parse(position: str, pointer: str) -> tuple[str, int, int]:
    match = _POSITION.fullmatch(position)
    if match is None or int(match[2]) < 1:
        raise BadPosition(
            position, "not a feed position (use a lastPosition or position from a feed)", pointer
        )
    return match[1], int(match[2]), int(match[3])


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


# What the feed, stream-type and checkpoint reads return ---------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Checkpoint:
    name: str
    position: str
    updated_at: str


# Items -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedRef:
    """One commit in a feed item: its stream, first revision and event types (one per event, in order)."""

    stream_id: str
    stream_type: str
    first_revision: int
    event_types: tuple[str, ...]

    @property
    def last_revision(self) -> int:
        return self.first_revision + len(self.event_types) - 1

    @classmethod
    def of(cls, commit: Commit) -> FeedRef:
        return cls(
            commit.stream_id,
            commit.stream_type,
            commit.first_revision,
            tuple(e.event_type for e in commit.events),
        )


@dataclass(frozen=True, slots=True)
class FeedItem:
    """Item k (`sequence`) of a feed; `source` is the all-types item a type item was derived from."""

    feed: str
    sequence: int
    refs: tuple[FeedRef, ...]
    written_at: str
    source: int | None = None
    block_index: Mapping[str, tuple[int, ...]] | None = None
    """On the item opening a block: for each stream type, the items of the block before that hold it."""

    @property
    def events(self) -> int:
        return sum(len(r.event_types) for r in self.refs)

    def stream_types(self) -> list[str]:
        return list(dict.fromkeys(r.stream_type for r in self.refs))


def encode_item(item: FeedItem) -> Item:
    """The item as stored. References are one JSON text (`[[streamId, streamType, first revision, [event
    types]], ...]`), not nested DynamoDB lists and maps: a page reads thousands of them, and one string
    parses and sizes in a fraction of the time one node per value takes (bench/README.md, Feeds)."""
    encoded: Item = {
        "streamId": {"S": item.feed},
        "revision": {"N": str(item.sequence)},
        "refs": {"S": "[" + ",".join(_ref_text(r) for r in item.refs) + "]"},
        "writtenAt": {"S": item.written_at},
        "events": {"N": str(item.events)},
    }
    if item.source is not None:
        encoded["source"] = {"N": str(item.source)}
    if item.block_index is not None:
        encoded[BLOCK_INDEX] = {"S": _index_text(block_of(item.sequence) - 1, item.block_index)}
    return encoded


BLOCK_INDEX: Final = "blockIndex"


def _index_text(block: int, types: Mapping[str, tuple[int, ...]]) -> str:
    """Types map to offsets within the block (k - first): a block of one type is ~300 bytes."""
    first = block_range(block)[0]
    offsets = {t: [k - first for k in ks] for t, ks in types.items()}
    return json.dumps(offsets, separators=(",", ":"), ensure_ascii=False)


def decode_index(block: int, text: str) -> FeedIndex:
    first = block_range(block)[0]
    types = {t: tuple(first + o for o in offsets) for t, offsets in json.loads(text).items()}
    return FeedIndex(block, types)


def _ref_text(ref: FeedRef) -> str:
    return json.dumps(
        [ref.stream_id, ref.stream_type, ref.first_revision, ref.event_types],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode_item(item: Any) -> FeedItem:
    return FeedItem(
        feed=item["streamId"]["S"],
        sequence=int(item["revision"]["N"]),
        refs=tuple(
            FeedRef(stream_id, stream_type, int(first), tuple(event_types))
            for stream_id, stream_type, first, event_types in json.loads(item["refs"]["S"])
        ),
        written_at=item["writtenAt"]["S"],
        source=int(item["source"]["N"]) if "source" in item else None,
        block_index=(
            decode_index(block_of(int(item["revision"]["N"])) - 1, item[BLOCK_INDEX]["S"]).types
            if BLOCK_INDEX in item
            else None
        ),
    )


def split_items(feed: str, first: int, refs: Sequence[FeedRef], written_at: str) -> list[FeedItem]:
    """Items first, first + 1, ... holding the refs in order, each within the size and event caps."""
    items: list[FeedItem] = []
    chunk: list[FeedRef] = []
    events = 0

    def close() -> None:
        items.append(FeedItem(feed, first + len(items), tuple(chunk), written_at))

    base = item_size(encode_item(FeedItem(feed, first, (), written_at)))
    size = base
    for ref in refs:
        ref_size = len(_ref_text(ref).encode()) + 1  # and its comma
        if chunk and (size + ref_size > MAX_ITEM_BYTES or events + len(ref.event_types) > MAX_ITEM_EVENTS):
            close()
            chunk, size, events = [], base, 0
        chunk.append(ref)
        size += ref_size
        events += len(ref.event_types)
    if chunk:
        close()
    return items


@dataclass(frozen=True, slots=True)
class FeedIndex:
    """The index of block b: for each stream type, the all-types items of block b that hold it, ascending.
    `types` None: no index is held (the block was too varied to index); its items are read instead."""

    block: int
    types: Mapping[str, tuple[int, ...]] | None


def index_types(items: Sequence[FeedItem]) -> dict[str, tuple[int, ...]] | None:
    """A closed block's index from its items (all of them, in order); None when it would pass
    MAX_INDEX_BYTES."""
    types: dict[str, list[int]] = {}
    for item in items:
        for stream_type in item.stream_types():
            types.setdefault(stream_type, []).append(item.sequence)
    index = {t: tuple(ks) for t, ks in types.items()}
    if items and len(_index_text(block_of(items[0].sequence), index).encode()) > MAX_INDEX_BYTES:
        return None
    return index


def opens_block(sequence: int) -> bool:
    """Whether item k opens a block after another one (and so carries that block's index)."""
    return sequence > 1 and sequence % BLOCK_ITEMS == 1


# The writer ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamCursors:
    """A stream's two cursors on its summary: the last revision fed, and the last notified."""

    fed: int = 0
    notified: int = 0


class FeedLog(Protocol):
    """What the writer needs from a store; reads here are consistent."""

    def head(self, feed: str) -> FeedItem | None:
        """The feed's newest item."""
        ...

    def put(self, item: FeedItem) -> bool:
        """Write the item unless its position is taken; whether it was written."""
        ...

    def block(self, first: int, last: int) -> list[FeedItem]:
        """The all-types items first..last (the writer reads a closed block to index it)."""
        ...

    def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
        """Each stream's cursors (defaults when it has none yet)."""
        ...

    def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
        """Move the stream's fed cursor up to revision (never down)."""
        ...


class FeedContention(Exception):
    """The writer lost races on one position too often; the batch is retried."""


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    cursors: Mapping[str, StreamCursors]
    """As read on the last attempt, after rolling the head forward."""

    fed: Mapping[str, int]
    """Each stream's last revision now in the feeds."""

    items: tuple[FeedItem, ...]
    """All-types items written."""

    conflicts: int
    """Positions lost to another writer."""


type Pending = Callable[[Mapping[str, StreamCursors]], Mapping[str, Sequence[Commit]]]
"""Given the cursors, each stream's commits that may be fed: contiguous, in revision order."""


class FeedWriter:
    """Appends commits to the feeds over a FeedLog (the roll-forward algorithm of docs/design.md)."""

    def __init__(
        self,
        log: FeedLog,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        attempts: int = WRITE_ATTEMPTS,
    ) -> None:
        self._log = log
        self._clock = clock
        self._attempts = attempts
        self._completed = 0
        """The newest all-types item whose effects this instance saw complete."""

    def feed(self, stream_ids: Collection[str], pending: Pending) -> FeedOutcome:
        """Append the streams' pending commits that are not fed yet, after rolling the head forward.

        The caller moves the fed cursors to `fed` afterwards (notify_stream with its notified cursor in one
        write); until it does, the next writer does it when it rolls the head forward. Raises
        FeedContention when other writers took the next position on every attempt."""
        written: list[FeedItem] = []
        conflicts = 0
        for _ in range(self._attempts):
            head = self.roll_forward()
            cursors = self._log.cursors(stream_ids)
            fed = {s: cursors[s].fed for s in stream_ids}
            refs = [
                FeedRef.of(commit)
                for stream_id, commits in pending(cursors).items()
                for commit in commits
                if commit.first_revision > cursors[stream_id].fed
            ]
            if not refs:
                return FeedOutcome(cursors, fed, tuple(written), conflicts)
            items = split_items(ALL_FEED, head + 1, refs, timefmt.format_instant(self._clock()))
            if self._append(self._indexed(items, head), written):
                for ref in refs:
                    fed[ref.stream_id] = max(fed[ref.stream_id], ref.last_revision)
                return FeedOutcome(cursors, fed, tuple(written), conflicts)
            conflicts += 1
        raise FeedContention(f"the feed's next position was taken {conflicts} times in a row")

    def finish(self, outcome: FeedOutcome) -> None:
        """Move the fed cursors over what the outcome fed (for callers with no cursor write of their own)."""
        stream_types = {r.stream_id: r.stream_type for i in outcome.items for r in i.refs}
        for stream_id, fed in outcome.fed.items():
            if fed > outcome.cursors[stream_id].fed:
                self._log.advance_fed(stream_id, stream_types[stream_id], fed)
        self.completed(outcome)

    def roll_forward(self) -> int:
        """Complete the head item's effects; its k (0: the feed is empty)."""
        head = self._log.head(ALL_FEED)
        if head is None:
            return 0
        if head.sequence <= self._completed:
            return head.sequence  # this instance saw its effects complete (they are never undone)
        # Refs are in each stream's revision order: its last ref holds its last revision.
        last = {ref.stream_id: ref for ref in head.refs}
        cursors = self._log.cursors(list(last))
        for stream_id, ref in last.items():
            if cursors[stream_id].fed < ref.last_revision:
                self._log.advance_fed(stream_id, ref.stream_type, ref.last_revision)
        self._completed = head.sequence
        return head.sequence

    def completed(self, outcome: FeedOutcome) -> None:
        """The caller moved every fed cursor of the outcome: its items' effects are complete, and the next
        roll-forward of this instance need not check them again."""
        sequences = [i.sequence for i in outcome.items if i.feed == ALL_FEED]
        if sequences:
            self._completed = max(self._completed, *sequences)

    def _append(self, items: Sequence[FeedItem], written: list[FeedItem]) -> bool:
        """Put the items in order; every one but the last is rolled forward before the next (the last is
        rolled forward by the caller's cursor write, or by the next writer). False on a lost position."""
        for index, item in enumerate(items):
            if not self._log.put(item):
                return False
            written.append(item)
            if index < len(items) - 1:
                self.roll_forward()
        return True

    def _indexed(self, items: Sequence[FeedItem], head: int) -> list[FeedItem]:
        """The items, the one opening a block (if any) carrying the index of the block before it: from the
        stored items up to the head (immutable: no hole, no change) and the batch's own before it."""
        indexed = list(items)
        for position, item in enumerate(items):
            if opens_block(item.sequence):
                first, last = block_range(block_of(item.sequence) - 1)
                stored = self._log.block(first, min(head, last)) if first <= head else []
                block = [*stored, *(i for i in items[:position] if i.sequence >= first)]
                if [i.sequence for i in block] != list(range(first, last + 1)):
                    raise FeedContention(f"items {first} to {last} could not be read whole")
                indexed[position] = replace(item, block_index=index_types(block))
        return indexed


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


@dataclass(frozen=True, slots=True)
class _Entry:
    sequence: int
    offset: int
    ref: FeedRef | None
    """None: no event, a mark that the page scanned through item `sequence` (offset END_OFFSET)."""

    index: int
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
        tag, sequence, offset = _parse(after, POSITION_POINTER)
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
        if event_types is not None and entry.ref.event_types[entry.index] not in event_types:
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
        event = _event_at(commit, entry.ref.first_revision + entry.index)
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
