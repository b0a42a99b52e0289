"""Typed exceptions, one per problem `type` of the API (docs/design.md), plus transport failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_PREFIX = "urn:eventstore:problem:"


@dataclass(frozen=True, slots=True)
class InvalidParam:
    name: str  # a JSON pointer such as /body/events/0/eventType
    reason: str


class EventStoreError(Exception):
    """Base of every error the client raises. `problem` is the problem+json body when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem or {}

    @property
    def type(self) -> str | None:
        value = self.problem.get("type")
        return str(value) if value is not None else None

    @property
    def detail(self) -> str | None:
        value = self.problem.get("detail")
        return str(value) if value is not None else None


class InvalidRequest(EventStoreError):
    @property
    def invalid_params(self) -> tuple[InvalidParam, ...]:
        return tuple(
            InvalidParam(name=str(p.get("name", "")), reason=str(p.get("reason", "")))
            for p in self.problem.get("invalid-params") or ()
            if isinstance(p, dict)
        )


class StreamNotFound(EventStoreError):
    pass


class _RevisionConflict(EventStoreError):
    @property
    def current_revision(self) -> int | None:
        value = self.problem.get("currentRevision")
        return int(value) if value is not None else None


class WrongExpectedRevision(_RevisionConflict):
    pass


class StreamAlreadyExists(_RevisionConflict):
    pass


class EventIdConflict(EventStoreError):
    pass


class StreamDeleted(EventStoreError):
    """410 stream-deleted: the stream was deleted for good (a tombstone); nothing was written."""


class MetadataConflict(EventStoreError):
    """The stream's metadata was not at the expected revision: someone else changed it."""

    @property
    def current_metadata_revision(self) -> int | None:
        value = self.problem.get("currentMetadataRevision")
        return int(value) if value is not None else None


class DataSubjectNotFound(EventStoreError):
    """404 data-subject-not-found: the store has never seen this data subject."""


class DataSubjectErased(EventStoreError):
    """410 data-subject-erased: an event names a data subject that was erased; nothing was written."""


class CheckpointNotFound(EventStoreError):
    pass


class CheckpointConflict(EventStoreError):
    """The checkpoint was not at the expected position: another instance of the consumer moved it."""

    @property
    def stored_position(self) -> str | None:
        """The position stored now (None: there is no checkpoint)."""
        value = self.problem.get("storedPosition")
        return str(value) if value is not None else None


class PayloadTooLarge(EventStoreError):
    pass


class SnapshotNotFound(EventStoreError):
    """404 snapshot-not-found: the stream has no snapshot (or does not exist)."""


class SnapshotConflict(EventStoreError):
    """409 snapshot-conflict: the stream keeps a newer snapshot, or another one at this revision."""

    @property
    def stored_revision(self) -> int | None:
        value = self.problem.get("storedRevision")
        return int(value) if value is not None else None


class SnapshotBeyondRevision(_RevisionConflict):
    """409 snapshot-beyond-revision: the stream has not reached the snapshot's revision."""


class ServiceUnavailable(EventStoreError):
    """Throttled or failing after all retries; nothing was written."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, problem=problem)
        self.retry_after = retry_after


class InternalError(EventStoreError):
    pass


class HTTPError(EventStoreError):
    """A response that is not a known problem, e.g. API Gateway's 403 for a missing or bad signature."""


class TransportError(EventStoreError):
    """No response after all retries: connection refused or reset, timeouts."""


class InvalidImportData(EventStoreError):
    """An import line that is not an exported event, or a stream whose revisions in the file have a gap."""


class InvalidNotification(EventStoreError):
    """An SQS message or Lambda record that is not an event store notification."""


class MissingRegion(ValueError):
    """No AWS region to sign with: none given, none in the URL's host name, none configured."""


PROBLEM_TYPES: dict[str, type[EventStoreError]] = {
    f"{PROBLEM_PREFIX}invalid-request": InvalidRequest,
    f"{PROBLEM_PREFIX}stream-not-found": StreamNotFound,
    f"{PROBLEM_PREFIX}stream-deleted": StreamDeleted,
    f"{PROBLEM_PREFIX}metadata-conflict": MetadataConflict,
    f"{PROBLEM_PREFIX}wrong-expected-revision": WrongExpectedRevision,
    f"{PROBLEM_PREFIX}stream-already-exists": StreamAlreadyExists,
    f"{PROBLEM_PREFIX}event-id-conflict": EventIdConflict,
    f"{PROBLEM_PREFIX}checkpoint-not-found": CheckpointNotFound,
    f"{PROBLEM_PREFIX}checkpoint-conflict": CheckpointConflict,
    f"{PROBLEM_PREFIX}payload-too-large": PayloadTooLarge,
    f"{PROBLEM_PREFIX}snapshot-not-found": SnapshotNotFound,
    f"{PROBLEM_PREFIX}snapshot-conflict": SnapshotConflict,
    f"{PROBLEM_PREFIX}snapshot-beyond-revision": SnapshotBeyondRevision,
    f"{PROBLEM_PREFIX}data-subject-not-found": DataSubjectNotFound,
    f"{PROBLEM_PREFIX}data-subject-erased": DataSubjectErased,
    f"{PROBLEM_PREFIX}service-unavailable": ServiceUnavailable,
    f"{PROBLEM_PREFIX}internal-error": InternalError,
}


def error_from_response(status: int, body: Any, retry_after: float | None = None) -> EventStoreError:
    """Map a failed response to its exception by the problem `type`, never by message text."""
    problem = body if isinstance(body, dict) else {}
    title = problem.get("title") or problem.get("message") or f"HTTP {status}"
    detail = problem.get("detail")
    message = f"{title}: {detail}" if detail else str(title)
    cls = PROBLEM_TYPES.get(str(problem.get("type")))
    if cls is None:
        # API Gateway's own answers carry no problem type: throttling and 5xx are retryable outages.
        cls = ServiceUnavailable if status == 429 or status >= 500 else HTTPError  # noqa: PLR2004
    if issubclass(cls, ServiceUnavailable):
        return cls(message, status=status, problem=problem, retry_after=retry_after)
    return cls(message, status=status, problem=problem)
