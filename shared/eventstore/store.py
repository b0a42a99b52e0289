"""The storage interfaces, one per consumer: the API's EventStore, FeedStore and SnapshotStore
(notify_stream's NotificationCursor is in eventstore.notifications, beside its one consumer).

Implementations: eventstore.dynamodb (the service's), eventstore.memory (the reference model the client's
fake server runs on). tests/core/test_store_contract.py runs one suite against each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

# Annotations only: a function's init imports the values of its own routes' concern, not every concern's
# (docs/design.md, "Cold start").
if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from eventstore.appends import AppendResult, NewEvent
    from eventstore.checkpoints import Checkpoint
    from eventstore.domain import Caller, EventPage, ExpectedRevision, NotGiven, StreamState
    from eventstore.erasure import DataSubjectState
    from eventstore.feedreads import FeedPage, StreamTypePage
    from eventstore.lifecycle import DeleteMode, StreamMetadata
    from eventstore.listing import StreamPage
    from eventstore.snapshots import NewSnapshot, Snapshot, SnapshotWritten

MAX_PAGE_EVENTS: Final = 1000
"""A page of events holds at most this many, whatever the limit asked for."""
ANY_RETRY_HORIZON: Final = 10
"""A retried "any" append is recognised (replayed, not duplicated) while it is among the newest commits."""


class EventStore(Protocol):
    """What the API's operations need: create, append, read, describe and list streams; erase data subjects.

    Reads return payloads opened (eventstore.erasure.Keyring.open_commit): plaintext, or None with
    `payload_erased` once the subject's key is gone."""

    def create(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult: ...

    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        events: Sequence[NewEvent],
        caller: Caller,
    ) -> AppendResult: ...

    def read(self, stream_type: str, stream_id: str, after_revision: int, limit: int) -> EventPage: ...

    def describe(self, stream_type: str, stream_id: str) -> StreamState: ...

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage: ...

    def delete(self, stream_type: str, stream_id: str, expected: int | None, mode: DeleteMode) -> None:
        """Soft-delete (the stream reads as unknown until an append starts it again, after its last
        revision) or tombstone it (StreamDeleted from then on, for every read and write). `expected`: only
        if the stream is at that revision (else WrongExpectedRevision, nothing written). Repeating a delete
        that is done writes nothing."""
        ...

    def get_metadata(self, stream_type: str, stream_id: str) -> StreamMetadata:
        """The stream's own lifecycle settings (StreamNotFound / StreamDeleted as for reads)."""
        ...

    def set_metadata(
        self, stream_type: str, stream_id: str, metadata: StreamMetadata, expected: int | None
    ) -> StreamMetadata:
        """Replace the settings (`metadata.revision` is ignored); with `expected`, only if the metadata is
        at that revision (0: never set), else MetadataConflict. Reads honour them at once."""
        ...

    def erase_data_subject(self, data_subject: str, caller: Caller) -> DataSubjectState:
        """Destroy the subject's key (idempotent): its payloads read back erased everywhere."""
        ...

    def data_subject(self, data_subject: str) -> DataSubjectState:
        """The subject's state (DataSubjectNotFound when never seen)."""
        ...


class FeedStore(Protocol):
    """What the feed and checkpoint operations need (docs/design.md, "Feeds")."""

    def read_feed(
        self,
        stream_type: str | None,
        after: str | None,
        limit: int,
        *,
        event_types: frozenset[str] | None = None,
        member: int | None = None,
        size: int | None = None,
    ) -> FeedPage:
        """A page of one type's feed (None: all types) after a position (None: from the beginning).
        BadPosition for a malformed position or one of another feed."""
        ...

    def stream_types(self, after: str | None, limit: int) -> StreamTypePage:
        """A page of the stream types that have a feed (every type with a stream, a moment after its first
        append), after the type `after` in the registry's order."""
        ...

    def get_checkpoint(self, name: str) -> Checkpoint:
        """CheckpointNotFound when there is none."""
        ...

    def put_checkpoint(self, name: str, position: str, expected: str | NotGiven | None) -> Checkpoint:
        """Set the checkpoint: unconditionally (NOT_GIVEN), only if it does not exist (None) or only if it is
        at `expected`; else CheckpointConflict. BadPosition if `position` is not a feed position."""
        ...


class SnapshotStore(Protocol):
    """What the snapshot operations need (docs/design.md, "Snapshots"): a stream keeps its newest snapshot."""

    def put_snapshot(self, stream_type: str, stream_id: str, snapshot: NewSnapshot) -> SnapshotWritten:
        """Store the snapshot unless the stream keeps a newer one. StreamNotFound for an unknown stream;
        SnapshotBeyondStream past the stream's revision; SnapshotConflict when the stored snapshot is newer,
        or at the same revision with other content (the same content again is a replay); DataSubjectErased;
        SnapshotTooLarge beyond one item."""
        ...

    def get_snapshot(self, stream_type: str, stream_id: str) -> Snapshot:
        """The stream's snapshot, its state opened (or marked erased). SnapshotNotFound when there is none,
        also for an unknown stream."""
        ...
