"""Which stored commits no reader can see any more: the pure rules physical removal applies.

What is visible is decided by one rule, the read paths' (`eventstore.lifecycle.visibility` and
`Visibility.shows`; docs/design.md, "Lifecycle"): revisions >= the floor and, with a max age, committed at
or after now - maxAge, where floor = max(1, deletedBefore, truncateBefore, lastRevision - maxCount + 1) and
maxCount / maxAgeSeconds fall back to the stream type's defaults. Removal applies that rule with the
stream's head as the last revision and adds its own conditions: a commit goes only when every event in it
is hidden, once notify_stream has processed it, and never the item that holds a stream's head (see
`removable_commits`). No I/O here, so the rules can be checked exhaustively.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from eventstore.lifecycle import Retention, StreamControl, StreamMetadata, Visibility, visibility

# Retention is the read side's (a type's default bounds), re-exported for removal's configuration.
__all__ = [
    "CONTROL_REVISION",
    "DELETED",
    "SNAPSHOT_REVISION",
    "SWEEP_SHARDS",
    "TOMBSTONE",
    "Control",
    "Retention",
    "StoredCommit",
    "commit_invisible",
    "removable_before",
    "removable_commits",
    "sweep_shard",
]

CONTROL_REVISION: Final = -2
"""Sort key of a stream's control item (metadata, deletion floor, tombstone)."""
SNAPSHOT_REVISION: Final = -3
"""Sort key of a stream's snapshot (issue 21)."""
SWEEP_SHARDS: Final = 4
"""Partitions of the `dueForRemoval` index: control items spread over `sweepShard` "0".."3"."""
DELETED: Final = "deleted"
TOMBSTONE: Final = "tombstone"


@dataclass(frozen=True, slots=True)
class Control:
    """A stream's control item (revision -2) as removal reads it; absent attributes are None."""

    stream_type: str | None = None
    max_count: int | None = None
    max_age_seconds: int | None = None
    truncate_before: int | None = None
    deleted_before: int | None = None
    tombstoned_at: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> Control:
        if item is None:
            return cls()

        def number(name: str) -> int | None:
            value = item.get(name)
            return int(value["N"]) if value is not None and "N" in value else None

        def text(name: str) -> str | None:
            value = item.get(name)
            return value["S"] if value is not None and "S" in value else None

        return cls(
            stream_type=text("streamType"),
            max_count=number("maxCount"),
            max_age_seconds=number("maxAgeSeconds"),
            truncate_before=number("truncateBefore"),
            deleted_before=number("deletedBefore"),
            tombstoned_at=text("tombstonedAt"),
        )

    @property
    def bounded(self) -> bool:
        """maxCount or maxAgeSeconds set on the stream: something may fall due at any later time."""
        return self.max_count is not None or self.max_age_seconds is not None

    def as_stream_control(self) -> StreamControl:
        """The same control item as the read paths decode it (`lifecycle.decode_control`)."""
        return StreamControl(
            stream_type=self.stream_type,
            metadata=StreamMetadata(self.max_count, self.max_age_seconds, self.truncate_before),
            deleted_before=self.deleted_before or 0,
            tombstoned=self.tombstoned_at is not None,
        )


def removable_before(
    control: Control, defaults: Retention | None, head_last_revision: int, now: datetime
) -> Visibility:
    """What reads still show of a stream: the reads' `lifecycle.visibility`, with `head_last_revision` as
    the last revision (the last revision of the stream's head item: its newest commit, or the lifecycle
    marker's `lastRevision`). A tombstoned stream hides everything (reads answer 410, feeds skip it)."""
    if control.tombstoned_at is not None:
        return Visibility(head_last_revision + 1)
    return visibility(control.as_stream_control(), defaults, now, head_last_revision)


@dataclass(frozen=True, slots=True)
class StoredCommit:
    """What removal needs of a commit item: its revisions and time."""

    first_revision: int
    last_revision: int
    committed_at: str


def commit_invisible(commit: StoredCommit, shown: Visibility) -> bool:
    """Every event of the commit is hidden from reads: its events share one `committedAt`, so none is
    visible exactly when its newest is not (the reads' own test, `Visibility.shows`)."""
    return not shown.shows(commit.last_revision, commit.committed_at)


def removable_commits(
    commits: Sequence[StoredCommit],
    *,
    shown: Visibility,
    head_commit_revision: int | None,
    processed_through: int,
) -> list[StoredCommit]:
    """The leading run of `commits` (ascending, from the stream's oldest) removal may delete now.

    A commit goes only when every event in it is invisible, `notify_stream` has fed and notified it
    (`processed_through`, the summary's min(lastRevision, fedRevision): the notifier reads commits it has
    not processed from the table), and it is not the stream's head commit: appends find the revision to
    continue from in the newest item, so the head commit (`head_commit_revision`; None when the head is a
    lifecycle marker, which carries that revision itself) stays, hidden by reads. The run stops at the
    first commit that stays: commits are in revision and time order, so a later one is due only when an
    earlier one is held back (not yet notified), and a later sweep takes both."""
    removable = []
    for commit in commits:
        is_head = commit.first_revision == head_commit_revision
        if is_head or commit.last_revision > processed_through or not commit_invisible(commit, shown):
            break
        removable.append(commit)
    return removable


def sweep_shard(stream_id: str) -> str:
    """The `sweepShard` value a control item carries while removal has work in its stream: writers of the
    control item SET it with every change that can hide events (delete, tombstone, metadata); removal
    REMOVEs it once nothing more can fall due (docs/design.md, "Physical removal and archive")."""
    digest = hashlib.sha256(stream_id.encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % SWEEP_SHARDS)
