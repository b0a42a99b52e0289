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
stores run the writer (eventstore.feedwriter) and the reader (eventstore.feedreads) over their own FeedLog
and FeedSource; this module holds what both share: the feeds' keys and items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eventstore.commits import Commit, item_size

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
LEGACY_TYPE_PREFIX: Final = "$feed:"
"""Type feeds' own items, written before the block index (k per type, `source` = all-types k). Kept for
the positions handed out then, which are translated to the all-types items they point into."""

END_OFFSET: Final = 999_999
"""The offset of a position after every event of its item (a page that scanned past events of other
types ends there)."""
STREAM_TYPES_KEY: Final = "$stream-types"
"""The registry of stream types: one item per type, written when its feed gets its first item."""
MAX_ITEM_BYTES: Final = 100 * 1024
"""A feed item is split before it grows past this (a write unit per KB; reads of the head stay cheap)."""

MAX_ITEM_EVENTS: Final = 10_000
"""...or past this many events (the position's offset has room for 10**6)."""


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


def stream_type_number(stream_type: str) -> int:
    """The registry item's sort key: 120 bits of SHA-256 of the name (a DynamoDB number holds 38 digits;
    a collision is as likely as guessing a random 120-bit key)."""
    return int.from_bytes(hashlib.sha256(stream_type.encode()).digest()[:15], "big")


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
