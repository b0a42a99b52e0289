"""Typed values the client returns and accepts; frozen so they can be shared and compared safely."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

type ExpectedRevision = int | Literal["any"]


def new_event_id() -> str:
    return str(uuid.uuid4())


def parse_timestamp(value: str) -> datetime:
    """RFC 3339 as the API writes it; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    except OverflowError:  # after year 9999 (or before year 1) in UTC: the server reads any offset
        return value.isoformat()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. The id is chosen here, before the first attempt, so retries are replays."""

    event_type: str
    payload: Any = None
    metadata: dict[str, Any] | None = None
    event_id: str = field(default_factory=new_event_id)
    data_subject: str | None = None
    """The person the payload is about: the store encrypts the payload under that subject's key, and
    erasing the subject (`EventStoreClient.erase_data_subject`) erases it."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NewEvent:
        """From the API's event shape ({eventType, payload, metadata, eventId, dataSubject}); a missing id is
        made here."""
        extra = {"event_id": str(data["eventId"])} if data.get("eventId") else {}
        subject = str(data["dataSubject"]) if data.get("dataSubject") else None
        return cls(
            str(data["eventType"]),
            data.get("payload"),
            data.get("metadata") or None,
            **extra,
            data_subject=subject,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"eventType": self.event_type, "eventId": self.event_id}
        if self.payload is not None:
            body["payload"] = self.payload
        if self.metadata:
            body["metadata"] = self.metadata
        if self.data_subject is not None:
            body["dataSubject"] = self.data_subject
        return body


@dataclass(frozen=True, slots=True)
class DataSubject:
    """A data subject's state: `erased_at` is None while its key exists."""

    data_subject: str
    state: str
    erased_at: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataSubject:
        erased_at = data.get("erasedAt")
        return cls(
            data_subject=str(data["dataSubject"]),
            state=str(data["state"]),
            erased_at=parse_timestamp(str(erased_at)) if erased_at else None,
        )


@dataclass(frozen=True, slots=True)
class Stream:
    stream_id: str
    stream_type: str
    revision: int
    updated_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stream:
        return cls(
            stream_id=str(data["streamId"]),
            stream_type=str(data["streamType"]),
            revision=int(data["revision"]),
            updated_at=parse_timestamp(str(data["updatedAt"])),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "streamId": self.stream_id,
            "streamType": self.stream_type,
            "revision": self.revision,
            "updatedAt": format_timestamp(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    stream_type: str
    stream_id: str
    revision: int
    event_id: str
    event_type: str
    payload: Any
    metadata: dict[str, Any]
    created_at: datetime
    data_subject: str | None = None
    payload_erased: bool = False
    """The data subject was erased: `payload` is None for good."""

    @classmethod
    def from_json(cls, stream_type: str, data: dict[str, Any]) -> RecordedEvent:
        return cls(
            stream_type=stream_type,
            stream_id=str(data["streamId"]),
            revision=int(data["revision"]),
            # Events written by the original service have no id; keep them readable.
            event_id=str(data.get("eventId") or ""),
            event_type=str(data["eventType"]),
            payload=data.get("payload"),
            metadata=dict(data.get("metadata") or {}),
            created_at=parse_timestamp(str(data["createdAt"])),
            data_subject=str(data["dataSubject"]) if data.get("dataSubject") else None,
            payload_erased=bool(data.get("payloadErased")),
        )

    def to_json(self) -> dict[str, Any]:
        """The export line: enough to re-create the event elsewhere with the same id (and subject)."""
        line = {
            "streamType": self.stream_type,
            "streamId": self.stream_id,
            "revision": self.revision,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "payload": self.payload,
            "metadata": self.metadata,
            "createdAt": format_timestamp(self.created_at),
        }
        if self.data_subject is not None:
            line["dataSubject"] = self.data_subject
        if self.payload_erased:
            line["payloadErased"] = True
        return line


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The stream after a write; `replayed` is true when the server repeated an earlier identical write."""

    stream: Stream
    replayed: bool
    event_ids: tuple[str, ...]

    @property
    def stream_id(self) -> str:
        return self.stream.stream_id

    @property
    def revision(self) -> int:
        return self.stream.revision

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream.to_json(), "replayed": self.replayed, "eventIds": list(self.event_ids)}


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    revision: int
    event_id: str
    event_type: str


@dataclass(frozen=True, slots=True)
class Notification:
    """One SNS notification: the stream reached `to_revision`; read the new events through the API."""

    stream_id: str
    stream_type: str
    from_revision: int
    to_revision: int
    events: tuple[NotificationEvent, ...] = ()
    event_types: tuple[str, ...] = ()
    updated_at: datetime | None = None
    message_id: str | None = None
    deleted: str | None = None
    """A StreamDeleted notification: "soft" or "tombstone" (the stream was deleted at `to_revision`)."""

    @property
    def revision(self) -> int:
        return self.to_revision

    def to_json(self) -> dict[str, Any]:
        return {
            "streamId": self.stream_id,
            "streamType": self.stream_type,
            "fromRevision": self.from_revision,
            "toRevision": self.to_revision,
            "events": [
                {"revision": e.revision, "eventId": e.event_id, "eventType": e.event_type}
                for e in self.events
            ],
            "eventTypes": list(self.event_types),
            "updatedAt": format_timestamp(self.updated_at) if self.updated_at else None,
            "messageId": self.message_id,
        } | ({"deleted": self.deleted} if self.deleted else {})


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event read from a feed: its `position` in that feed, and the event with its stream."""

    position: str
    stream_type: str
    stream_id: str
    revision: int
    event_id: str
    event_type: str
    payload: Any
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedEvent:
        return cls(
            position=str(data["position"]),
            stream_type=str(data["streamType"]),
            stream_id=str(data["streamId"]),
            revision=int(data["revision"]),
            event_id=str(data.get("eventId") or ""),
            event_type=str(data["eventType"]),
            payload=data.get("payload"),
            metadata=dict(data.get("metadata") or {}),
            created_at=parse_timestamp(str(data["createdAt"])),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "streamType": self.stream_type,
            "streamId": self.stream_id,
            "revision": self.revision,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "payload": self.payload,
            "metadata": self.metadata,
            "createdAt": format_timestamp(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of a feed. `last_position` is where the next page starts (the last entry scanned, also
    when filters returned fewer events or none); None only for an empty feed read from its beginning."""

    events: tuple[FeedEvent, ...]
    has_more: bool
    last_position: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedPage:
        last = data.get("lastPosition")
        return cls(
            events=tuple(FeedEvent.from_json(item) for item in data["events"]),
            has_more=bool(data["hasMore"]),
            last_position=str(last) if last is not None else None,
        )


@dataclass(frozen=True, slots=True)
class StreamMetadata:
    """A stream's lifecycle settings (None: not set; its type's default, if any, applies)."""

    max_count: int | None = None
    max_age_seconds: int | None = None
    truncate_before: int | None = None
    revision: int = 0
    """Counts the metadata's writes: pass it as `expected_revision` to set_metadata for compare-and-set."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamMetadata:
        def number(name: str) -> int | None:
            value = data.get(name)
            return int(value) if value is not None else None

        return cls(
            max_count=number("maxCount"),
            max_age_seconds=number("maxAgeSeconds"),
            truncate_before=number("truncateBefore"),
            revision=int(data.get("metadataRevision") or 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "maxCount": self.max_count,
            "maxAgeSeconds": self.max_age_seconds,
            "truncateBefore": self.truncate_before,
            "metadataRevision": self.revision,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A consumer's stored feed position."""

    name: str
    position: str
    updated_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            name=str(data["name"]),
            position=str(data["position"]),
            updated_at=parse_timestamp(str(data["updatedAt"])),
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "position": self.position, "updatedAt": format_timestamp(self.updated_at)}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stream's snapshot: a client's folded state as of `revision` (`EventStoreClient.load`)."""

    revision: int
    snapshot_type: str
    state: Any
    created_at: datetime
    data_subject: str | None = None
    state_erased: bool = False
    """The data subject was erased: `state` is None for good."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            revision=int(data["revision"]),
            snapshot_type=str(data["snapshotType"]),
            state=data.get("state"),
            created_at=parse_timestamp(str(data["createdAt"])),
            data_subject=str(data["dataSubject"]) if data.get("dataSubject") else None,
            state_erased=bool(data.get("stateErased")),
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "revision": self.revision,
            "snapshotType": self.snapshot_type,
            "state": self.state,
            "createdAt": format_timestamp(self.created_at),
        }
        if self.data_subject is not None:
            body["dataSubject"] = self.data_subject
        if self.state_erased:
            body["stateErased"] = True
        return body


@dataclass(frozen=True, slots=True)
class SnapshotWritten:
    """A stored snapshot (its state is the one sent); `replayed`: the same snapshot was stored already."""

    revision: int
    snapshot_type: str
    created_at: datetime
    replayed: bool
    data_subject: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "revision": self.revision,
            "snapshotType": self.snapshot_type,
            "createdAt": format_timestamp(self.created_at),
            "replayed": self.replayed,
        }
        if self.data_subject is not None:
            body["dataSubject"] = self.data_subject
        return body


@dataclass(frozen=True, slots=True)
class Loaded[S]:
    """What `EventStoreClient.load` folded: the state as of `revision` and how it got there."""

    state: S
    revision: int
    """The last event folded (0: none)."""

    snapshot_revision: int | None
    """The revision of the snapshot the fold started from (None: from the first event)."""

    events_read: int
    snapshot_written: bool
    """True when this load stored a new snapshot (False also when a racing writer's newer one won)."""
