"""Stream lifecycle: soft delete, tombstone, stream metadata (maxCount, maxAgeSeconds, truncateBefore) and
the per-type retention defaults, and which events they leave visible (docs/design.md, "Lifecycle").

A deletion is a **lifecycle marker** in the stream's head slot (the key its next commit would take), so it
races appends on one conditional PutItem; the stream's **control item** (revision -2) holds its metadata,
its deletion floor and its tombstone, and is what reads consult. Both stores share this module's codec and
visibility rule.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from eventstore import timefmt
from eventstore.commits import Commit
from eventstore.domain import RecordedEvent

if TYPE_CHECKING:
    from eventstore.commits import Item

type DeleteMode = Literal["soft", "tombstone"]
DELETED: Final = "deleted"
"""`kind` of a soft delete's marker: the stream may start again after it."""
TOMBSTONE: Final = "tombstone"
"""`kind` of a hard delete's marker: the stream can never be written again."""
_MODES: Final[dict[str, DeleteMode]] = {DELETED: "soft", TOMBSTONE: "tombstone"}


@dataclass(frozen=True, slots=True)
class Retention:
    """Bounds that hide a stream's older events: keep the newest `max_count`, and those younger than
    `max_age_seconds`. A stream type's defaults, or a stream's own metadata over them."""

    max_count: int | None = None
    max_age_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class StreamMetadata:
    """A stream's own lifecycle settings (None: not set; the type's default, if any, applies)."""

    max_count: int | None = None
    max_age_seconds: int | None = None
    truncate_before: int | None = None
    revision: int = 0
    """Counts the metadata's writes: the compare-and-set token of `expectedMetadataRevision`."""


@dataclass(frozen=True, slots=True)
class StreamControl:
    """The control item (revision -2): metadata, deletion floor, tombstone. Absent: all defaults."""

    stream_type: str | None = None
    metadata: StreamMetadata = field(default_factory=StreamMetadata)
    deleted_before: int = 0
    """Events below this revision were soft-deleted (a restarted stream's earlier life)."""
    tombstoned: bool = False


@dataclass(frozen=True, slots=True)
class LifecycleMarker:
    """A deletion in the head slot: key `last_revision + 1`, no events, no digest, no listing keys."""

    stream_id: str
    stream_type: str
    kind: str
    last_revision: int
    """The stream's revision when it was deleted: a restart continues after it."""
    deleted_at: str
    write_id: str

    @property
    def key(self) -> int:
        return self.last_revision + 1

    @property
    def mode(self) -> DeleteMode:
        return _MODES[self.kind]

    @property
    def committed_at(self) -> str:
        """When the head slot was taken: a restart's commit is stamped after it."""
        return self.deleted_at


def new_marker(
    stream_id: str, stream_type: str, mode: DeleteMode, last_revision: int, now: datetime
) -> LifecycleMarker:
    kind = TOMBSTONE if mode == "tombstone" else DELETED
    return LifecycleMarker(
        stream_id, stream_type, kind, last_revision, timefmt.format_instant(now), secrets.token_hex(8)
    )


def encode_marker(marker: LifecycleMarker) -> Item:
    return {
        "streamId": {"S": marker.stream_id},
        "revision": {"N": str(marker.key)},
        "streamType": {"S": marker.stream_type},
        "kind": {"S": marker.kind},
        "lastRevision": {"N": str(marker.last_revision)},
        "deletedAt": {"S": marker.deleted_at},
        "writeId": {"S": marker.write_id},
    }


def is_marker(image: Any) -> bool:
    """Whether a stored item (or a stream record's image) is a lifecycle marker."""
    return isinstance(image, dict) and "S" in (image.get("kind") or {})


def decode_marker(item: Any) -> LifecycleMarker:
    return LifecycleMarker(
        stream_id=item["streamId"]["S"],
        stream_type=item["streamType"]["S"],
        kind=item["kind"]["S"],
        last_revision=int(item["lastRevision"]["N"]),
        deleted_at=item["deletedAt"]["S"],
        write_id=item["writeId"]["S"],
    )


def decode_control(item: Any | None) -> StreamControl:
    if not item:
        return StreamControl()

    def number(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return StreamControl(
        stream_type=item["streamType"]["S"] if "streamType" in item else None,
        metadata=StreamMetadata(
            max_count=number("maxCount"),
            max_age_seconds=number("maxAgeSeconds"),
            truncate_before=number("truncateBefore"),
            revision=number("metadataRevision") or 0,
        ),
        deleted_before=number("deletedBefore") or 0,
        tombstoned="tombstonedAt" in item,
    )


# Visibility ------------------------------------------------------------------------------------------


def effective(control: StreamControl, default: Retention | None) -> Retention:
    """The stream's own bounds, each falling back to its type's default."""
    default = default or Retention()
    own = control.metadata
    return Retention(
        max_count=own.max_count if own.max_count is not None else default.max_count,
        max_age_seconds=own.max_age_seconds if own.max_age_seconds is not None else default.max_age_seconds,
    )


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which of a stream's events a reader may see: revisions from `floor`, committed at or after
    `oldest` (None: any age)."""

    floor: int
    oldest: str | None = None

    def visible(self, event: RecordedEvent) -> bool:
        return self.shows(event.revision, event.created_at)

    def shows(self, revision: int, committed_at: str) -> bool:
        """Whether the event at `revision`, committed at `committed_at`, is visible (physical removal asks
        this of a commit's newest event: its events share one committedAt)."""
        # Instants are fixed-width UTC text (eventstore.timefmt): they compare as strings.
        return revision >= self.floor and (self.oldest is None or committed_at >= self.oldest)


def visibility(
    control: StreamControl, default: Retention | None, now: datetime, last_revision: int | None
) -> Visibility:
    """floor = max(1, deletedBefore, truncateBefore, last - maxCount + 1); `last_revision` is needed only
    when a max count applies (`needs_last_revision`). Feeds pass the last fed revision (docs/design.md)."""
    bounds = effective(control, default)
    floor = max(1, control.deleted_before, control.metadata.truncate_before or 0)
    if bounds.max_count is not None and last_revision is not None:
        floor = max(floor, last_revision - bounds.max_count + 1)
    oldest = None
    if bounds.max_age_seconds is not None:
        try:
            oldest = timefmt.format_instant(now - timedelta(seconds=bounds.max_age_seconds))
        except OverflowError:  # older than year 1: everything is young enough
            oldest = None
    return Visibility(floor, oldest)


def needs_last_revision(control: StreamControl, default: Retention | None) -> bool:
    return effective(control, default).max_count is not None


def parse_retention_defaults(document: Any) -> dict[str, Retention]:
    """`{"<streamType>": {"maxCount": N, "maxAgeSeconds": S}}` (both optional, positive integers);
    ValueError naming what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("must be a JSON object of stream types")  # noqa: TRY004 - a configuration error
    defaults: dict[str, Retention] = {}
    for stream_type, bounds in document.items():
        if not isinstance(bounds, dict) or set(bounds) - {"maxCount", "maxAgeSeconds"}:
            raise ValueError(f"{stream_type}: only maxCount and maxAgeSeconds may be set")
        for name, value in bounds.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{stream_type}.{name} must be a positive whole number or null")
        defaults[stream_type] = Retention(bounds.get("maxCount"), bounds.get("maxAgeSeconds"))
    return defaults


def visible_part(commit: Commit, shown: Visibility | None) -> Commit | None:
    """The commit with only its visible events (None: none is; `shown` None: the stream is gone)."""
    if shown is None:
        return None
    events = tuple(e for e in commit.events if shown.visible(e))
    if len(events) == len(commit.events):
        return commit
    return dataclasses.replace(commit, events=events) if events else None
