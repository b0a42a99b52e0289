"""Which stored commits no reader can see any more: the pure rules physical removal applies.

The visibility rules are the lifecycle model's (docs/design.md, "Physical removal and archive"): the
visible events of a stream are the revisions >= the floor and, with a max age, committed at or after
now - maxAge, where floor = max(deletedBefore, truncateBefore, lastRevision - maxCount + 1) and
maxCount / maxAgeSeconds fall back to the stream type's defaults. The read paths hide exactly these
events; removal deletes a commit only when every event in it is hidden, and never the item that holds a
stream's head (see `removable_commits`). No I/O here, so the rules can be checked exhaustively.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from eventstore import timefmt

CONTROL_REVISION: Final = -2
"""Sort key of a stream's control item (metadata, deletion floor, tombstone)."""
SNAPSHOT_REVISION: Final = -3
"""Sort key of a stream's snapshot (issue 21)."""
SWEEP_SHARDS: Final = 4
"""Partitions of the `dueForRemoval` index: control items spread over `sweepShard` "0".."3"."""
DELETED: Final = "deleted"
TOMBSTONE: Final = "tombstone"


class RetentionConfigError(ValueError):
    """EVENTSTORE_RETENTION_DEFAULTS is not {type: {maxCount, maxAgeSeconds}} with positive integers."""


@dataclass(frozen=True, slots=True)
class Retention:
    """Bounds of one stream type (the defaults) or one stream (its control item); None = unbounded."""

    max_count: int | None = None
    max_age_seconds: int | None = None


def parse_defaults(text: str) -> dict[str, Retention]:
    """`EVENTSTORE_RETENTION_DEFAULTS`: JSON `{"<streamType>": {"maxCount": N, "maxAgeSeconds": S}}`."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RetentionConfigError(f"EVENTSTORE_RETENTION_DEFAULTS is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise RetentionConfigError("EVENTSTORE_RETENTION_DEFAULTS must be a JSON object keyed by stream type")
    defaults = {}
    for stream_type, bounds in raw.items():
        if not isinstance(bounds, dict) or set(bounds) - {"maxCount", "maxAgeSeconds"}:
            raise RetentionConfigError(
                f"EVENTSTORE_RETENTION_DEFAULTS[{stream_type!r}] may hold only maxCount and maxAgeSeconds"
            )
        values = {name: bounds.get(name) for name in ("maxCount", "maxAgeSeconds")}
        for name, value in values.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise RetentionConfigError(
                    f"EVENTSTORE_RETENTION_DEFAULTS[{stream_type!r}].{name} must be a positive integer"
                )
        defaults[stream_type] = Retention(values["maxCount"], values["maxAgeSeconds"])
    return defaults


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


def effective_retention(control: Control, defaults: Retention | None) -> Retention:
    """The stream's own bounds, each falling back to its type's default."""
    fallback = defaults or Retention()
    return Retention(
        max_count=control.max_count if control.max_count is not None else fallback.max_count,
        max_age_seconds=(
            control.max_age_seconds if control.max_age_seconds is not None else fallback.max_age_seconds
        ),
    )


def removable_before(
    control: Control, defaults: Retention | None, head_last_revision: int, now: datetime
) -> tuple[int, datetime | None]:
    """The visible floor of a stream: events with a revision below the first value are invisible, and so
    are events committed before the second (None: no max age).

    `head_last_revision` is the last revision of the stream's head item (its newest commit, or the
    lifecycle marker's `lastRevision`). A tombstoned stream hides everything."""
    if control.tombstoned_at is not None:
        return head_last_revision + 1, None
    retention = effective_retention(control, defaults)
    floor = max(
        control.deleted_before or 0,
        control.truncate_before or 0,
        head_last_revision - retention.max_count + 1 if retention.max_count is not None else 0,
    )
    cutoff = now - timedelta(seconds=retention.max_age_seconds) if retention.max_age_seconds else None
    return floor, cutoff


@dataclass(frozen=True, slots=True)
class StoredCommit:
    """What removal needs of a commit item: its revisions and time."""

    first_revision: int
    last_revision: int
    committed_at: str


def commit_invisible(commit: StoredCommit, floor: int, cutoff: datetime | None) -> bool:
    """Every event of the commit is hidden from reads (its events share one `committedAt`)."""
    if commit.last_revision < floor:
        return True
    return cutoff is not None and timefmt.parse(commit.committed_at) < cutoff


def removable_commits(
    commits: Sequence[StoredCommit],
    *,
    floor: int,
    cutoff: datetime | None,
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
        if is_head or commit.last_revision > processed_through or not commit_invisible(commit, floor, cutoff):
            break
        removable.append(commit)
    return removable


def sweep_shard(stream_id: str) -> str:
    """The `sweepShard` value a control item carries while removal has work in its stream: writers of the
    control item SET it with every change that can hide events (delete, tombstone, metadata); removal
    REMOVEs it once nothing more can fall due (docs/design.md, "Physical removal and archive")."""
    digest = hashlib.sha256(stream_id.encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % SWEEP_SHARDS)
