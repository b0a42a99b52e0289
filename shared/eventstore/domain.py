"""Domain values and errors of the event store. Nothing here knows about HTTP or DynamoDB."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final, Literal

type JsonValue = Any
"""Any JSON value (object, array, string, number, boolean or null), exactly as the client sent it."""

ANY_REVISION: Final = "any"
type ExpectedRevision = int | Literal["any"]
"""The stream's revision the caller expects before its events (0: the stream must not exist yet)."""

MAX_EVENTS_PER_APPEND: Final = 100

MAX_REQUEST_BODY_BYTES: Final = 5 * 1024 * 1024
"""The largest request body the API takes (413 beyond): inside API Gateway's 10 MiB and, once escaped
into the proxy event, Lambda's 6 MiB invocation request (docs/design.md, "Large payloads")."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request, recorded in each event's metadata."""

    principal: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """Where an offloaded payload is: its object key (`<streamId>/<sha256>`), size and SHA-256 (hex) of
    the stored bytes."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    stream_id: str
    revision: int
    event_id: str
    event_type: str
    payload: JsonValue
    metadata: dict[str, JsonValue]
    created_at: str
    data_subject: str | None = None
    payload_erased: bool = False
    """The subject's key is destroyed: `payload` is None for good."""

    sealed: bytes | None = None
    """The payload as stored (encrypted) while no keyring has opened it (eventstore.erasure.open_commit)."""

    stored_ref: PayloadRef | None = None
    """Where the payload is while it has not been loaded from the payload bucket (eventstore.payloads)."""

    text_bytes: int | None = field(default=None, compare=False, repr=False)
    """Payload and metadata as a response carries them (JSON text, escaped as a string once more), when
    known from decoding, so a page is sized without rendering it twice; None: measured when needed
    (eventstore.payloads.response_bytes)."""


@dataclass(frozen=True, slots=True)
class StreamState:
    stream_id: str
    stream_type: str
    revision: int
    updated_at: str


@dataclass(frozen=True, slots=True)
class EventPage:
    events: tuple[RecordedEvent, ...]
    has_more: bool
    last_evaluated_revision: int
    first_revision: int = 1
    """Where the page starts: after-revision + 1, or the stream's first visible revision when that is
    higher (earlier events were deleted, truncated or are past the stream's retention)."""


class NotGiven(enum.Enum):
    """An optional argument left out (distinct from None, which may mean something)."""

    NOT_GIVEN = "not-given"


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


# Errors ---------------------------------------------------------------------------------------


class EventStoreError(Exception):
    """Base of the domain errors; each maps to one HTTP problem type in eventstore.http."""


@dataclass(frozen=True, slots=True)
class InvalidParam:
    name: str
    """A JSON pointer into the request: /body/..., /query/..., /path/..., /header/..."""

    reason: str


class InvalidRequest(EventStoreError):
    def __init__(self, params: list[InvalidParam]) -> None:
        self.params = tuple(params)
        super().__init__("; ".join(f"{p.name}: {p.reason}" for p in params))

    @classmethod
    def single(cls, name: str, reason: str) -> InvalidRequest:
        return cls([InvalidParam(name, reason)])


class BadPosition(InvalidRequest):
    """A feed position that is malformed or belongs to another feed."""

    def __init__(self, position: str, reason: str, pointer: str = "/query/after-position") -> None:
        self.position = position
        super().__init__([InvalidParam(pointer, reason)])


class CheckpointNotFound(EventStoreError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no checkpoint named {name}")


class CheckpointConflict(EventStoreError):
    """`stored` is the checkpoint's position now (None: it does not exist)."""

    def __init__(self, name: str, stored: str | None) -> None:
        self.name = name
        self.stored = stored
        where = f"is at {stored}" if stored is not None else "does not exist"
        super().__init__(f"checkpoint {name} {where}, not at the expected position")


class StreamNotFound(EventStoreError):
    def __init__(self, stream_type: str, stream_id: str) -> None:
        super().__init__(f"stream {stream_type}/{stream_id} does not exist")


class StreamDeleted(EventStoreError):
    """The stream was hard-deleted (tombstoned): it can never be read or written again."""

    def __init__(self, stream_type: str, stream_id: str) -> None:
        super().__init__(f"stream {stream_type}/{stream_id} was deleted for good (tombstone)")


class MetadataConflict(EventStoreError):
    """A metadata write's `expectedMetadataRevision` is not the stored one (`current`)."""

    def __init__(self, expected: int, current: int) -> None:
        self.expected = expected
        self.current = current
        super().__init__(f"expected metadata revision {expected}, but the metadata is at revision {current}")


class WrongExpectedRevision(EventStoreError):
    """`deleted`: the stream was soft-deleted at `current` (an append at current + 1 starts it again)."""

    def __init__(self, expected: ExpectedRevision, current: int, *, deleted: bool = False) -> None:
        self.expected = expected
        self.current = current
        state = "was deleted at" if deleted else "is at"
        super().__init__(f"expected revision {expected}, but the stream {state} revision {current}")


class StreamAlreadyExists(EventStoreError):
    """`current` is None when the id belongs to a stream of another type: stream ids are unique across
    types, and the caller may not be allowed to see that type, so neither it nor its revision is named."""

    def __init__(self, stream_id: str, current: int | None) -> None:
        self.current = current
        if current is None:
            super().__init__(f"stream id {stream_id} is already used by another stream type")
        else:
            super().__init__(f"stream {stream_id} already exists (revision {current}) with other events")


class EventIdConflict(EventStoreError):
    def __init__(self, revision: int) -> None:
        self.revision = revision
        super().__init__(
            f"the events at revision {revision} have the same event ids as this request "
            "but different content; event ids must identify one event"
        )


class PayloadTooLarge(EventStoreError):
    pass


class SnapshotTooLarge(PayloadTooLarge):
    """A snapshot whose item would pass DynamoDB's item size limit."""


class SnapshotNotFound(EventStoreError):
    """No snapshot of this stream (also when the stream itself does not exist: one read answers both)."""

    def __init__(self, stream_type: str, stream_id: str) -> None:
        super().__init__(f"stream {stream_type}/{stream_id} has no snapshot")


class SnapshotConflict(EventStoreError):
    """The stream keeps a newer snapshot (or another one at the same revision); `stored` is its revision."""

    def __init__(self, revision: int, stored: int) -> None:
        self.revision = revision
        self.stored = stored
        super().__init__(
            f"the stream's snapshot is at revision {stored}; a snapshot at revision {revision} "
            + ("differs from it" if stored == revision else "would replace it with an older one")
        )


class SnapshotBeyondStream(EventStoreError):
    """A snapshot at a revision the stream has not reached."""

    def __init__(self, revision: int, current: int) -> None:
        self.revision = revision
        self.current = current
        super().__init__(f"a snapshot at revision {revision}, but the stream is at revision {current}")


class StoredPayloadCorrupt(EventStoreError):
    """An offloaded payload is missing or does not match its reference (size, SHA-256): never served."""


class ServiceUnavailable(EventStoreError):
    def __init__(self, reason: str, retry_after_seconds: int = 1) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(reason)


class DataSubjectErased(EventStoreError):
    """An append names a data subject whose key was destroyed: it can never get a key again."""

    def __init__(self, data_subject: str) -> None:
        self.data_subject = data_subject
        super().__init__(f"data subject {data_subject} was erased; no event can be stored for it any more")


class DataSubjectNotFound(EventStoreError):
    def __init__(self, data_subject: str) -> None:
        super().__init__(f"data subject {data_subject} has never been seen by this store")
