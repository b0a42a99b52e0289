"""The feed writer: appends commits to the all-types feed at positions handed out in sequence, rolling the
head item's effects forward first (docs/design.md, "Feeds"; the items' format is eventstore.feeds)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Protocol

from eventstore import timefmt
from eventstore.commits import Commit
from eventstore.feeds import (
    ALL_FEED,
    FeedItem,
    FeedRef,
    block_of,
    block_range,
    index_types,
    opens_block,
    split_items,
)

WRITE_ATTEMPTS: Final = 5


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
