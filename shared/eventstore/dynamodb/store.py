"""DynamoEventStore: the EventStore, FeedStore, SnapshotStore and NotificationCursor on one DynamoDB table,
composed of the writer, the reads, the listing, the cursor, the feed log and source, the checkpoints, the
snapshots and the lifecycle (each
given the same table; all but the reads made on first use, or at init by `prepare`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Self

from eventstore.dynamodb import reads
from eventstore.dynamodb.access import Settling, Table
from eventstore.payloads import NoPayloadObjects, PayloadObjects, load, within_budget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from eventstore.appends import AppendResult, NewEvent
    from eventstore.checkpoints import Checkpoint
    from eventstore.commits import Commit
    from eventstore.domain import Caller, EventPage, ExpectedRevision, NotGiven, RecordedEvent, StreamState
    from eventstore.dynamodb.checkpoints import TableCheckpoints
    from eventstore.dynamodb.cursor import SummaryCursor
    from eventstore.dynamodb.feedreads import TableFeedSource
    from eventstore.dynamodb.feeds import TableFeedLog
    from eventstore.dynamodb.lifecycle import StreamLifecycle
    from eventstore.dynamodb.listing import StreamListing
    from eventstore.dynamodb.markers import ListingMarkers
    from eventstore.dynamodb.snapshots import TableSnapshots
    from eventstore.dynamodb.writes import CommitWriter
    from eventstore.erasure import DataSubjectState, Keyring
    from eventstore.feedreads import FeedPage, StreamTypePage
    from eventstore.feeds import FeedItem
    from eventstore.feedwriter import StreamCursors
    from eventstore.lifecycle import DeleteMode, LifecycleMarker, Retention, StreamMetadata
    from eventstore.listing import StreamPage
    from eventstore.pagekeys import PageKeySigner
    from eventstore.snapshots import NewSnapshot, Snapshot, SnapshotWritten

type Component = Literal[
    "writer",
    "markers",
    "listing",
    "cursor",
    "feed_log",
    "feed_source",
    "checkpoints",
    "snapshots",
    "lifecycle",
]
"""The parts of the store made on first use (the reads are always there)."""


class DynamoEventStore:
    """EventStore, FeedStore, SnapshotStore and NotificationCursor on one DynamoDB table (names and keys from
    table.json)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        page_keys: PageKeySigner | None = None,
        listing_settle: timedelta = timedelta(seconds=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        any_append_budget: timedelta | None = None,
        keyring: Keyring | None = None,
        payloads: PayloadObjects | None = None,
        retention: Mapping[str, Retention] | None = None,
    ) -> None:
        self.table = Table(client, table_name)
        self.keyring = keyring
        self.payloads = payloads or NoPayloadObjects()
        self._clock = clock
        self._retention = dict(retention or {})
        self._page_keys = page_keys
        self._settling = Settling(listing_settle, clock)
        self._any_append_budget = any_append_budget
        """None: the writer's own (writes.ANY_APPEND_BUDGET)."""

    # The components are made (and their modules imported) on first use: a function's init loads what its
    # own routes need, not every route's (docs/design.md, "Cold start").

    def prepare(self, *components: Component) -> Self:
        """Make `components` now rather than on first use: a function's init makes what its own routes use,
        so that their first request does not pay for it (and a SnapStart snapshot holds it)."""
        for component in components:
            getattr(self, component)
        return self

    @functools.cached_property
    def writer(self) -> CommitWriter:
        from eventstore.dynamodb.writes import ANY_APPEND_BUDGET, CommitWriter  # noqa: PLC0415 - appends only
        from eventstore.erasure import seal_without_keys  # noqa: PLC0415 - loaded by writes already

        keyring, budget = self.keyring, self._any_append_budget
        return CommitWriter(
            self.table,
            self.markers,
            self._settling,
            any_append_budget=ANY_APPEND_BUDGET if budget is None else budget,
            seal=keyring.seal if keyring is not None else seal_without_keys,
            payloads=self.payloads,
        )

    @functools.cached_property
    def markers(self) -> ListingMarkers:
        from eventstore.dynamodb.markers import ListingMarkers  # noqa: PLC0415 - the writer and the cursor

        return ListingMarkers(self.table, self._settling)

    @functools.cached_property
    def listing(self) -> StreamListing:
        from eventstore.dynamodb.listing import StreamListing  # noqa: PLC0415 - list_streams only

        return StreamListing(self.table, self._settling, self._page_keys)

    @functools.cached_property
    def cursor(self) -> SummaryCursor:
        from eventstore.dynamodb.cursor import SummaryCursor  # noqa: PLC0415 - notify_stream only

        return SummaryCursor(self.table, self.markers)

    @functools.cached_property
    def feed_log(self) -> TableFeedLog:
        from eventstore.dynamodb.feeds import TableFeedLog  # noqa: PLC0415 - notify_stream only

        return TableFeedLog(self.table)

    @functools.cached_property
    def feed_source(self) -> TableFeedSource:
        from eventstore.dynamodb.feedreads import TableFeedSource  # noqa: PLC0415 - read_feed only

        return TableFeedSource(self.table, self._clock, self._retention)

    @functools.cached_property
    def checkpoints(self) -> TableCheckpoints:
        from eventstore.dynamodb.checkpoints import TableCheckpoints  # noqa: PLC0415 - checkpoints only

        return TableCheckpoints(self.table, self._clock)

    @functools.cached_property
    def snapshots(self) -> TableSnapshots:
        from eventstore.dynamodb.snapshots import TableSnapshots  # noqa: PLC0415 - snapshots only

        return TableSnapshots(self.table, self.keyring, self._clock)

    @functools.cached_property
    def lifecycle(self) -> StreamLifecycle:
        from eventstore.dynamodb.lifecycle import StreamLifecycle  # noqa: PLC0415 - deletes, metadata, notify

        return StreamLifecycle(self.table, self._clock)

    # EventStore

    def create(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult:
        return self.writer.create(stream_type, stream_id, events, caller)

    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        events: Sequence[NewEvent],
        caller: Caller,
    ) -> AppendResult:
        return self.writer.append(stream_type, stream_id, expected, events, caller)

    def read(self, stream_type: str, stream_id: str, after_revision: int, limit: int) -> EventPage:
        page = reads.read(
            self.table,
            stream_type,
            stream_id,
            after_revision,
            limit,
            default=self._retention.get(stream_type),
            now=self._clock(),
        )
        events, cut = within_budget(page.events, self._open_event)
        if not cut:
            return replace(page, events=tuple(events))
        return replace(page, events=tuple(events), has_more=True, last_evaluated_revision=events[-1].revision)

    def _open_event(self, event: RecordedEvent) -> RecordedEvent:
        """An event as a read returns it: its offloaded payload loaded, a sealed payload opened."""
        event = load(event, self.payloads)
        if event.sealed is None:
            return event
        return self._keys().open_events((event,))[0]

    def describe(self, stream_type: str, stream_id: str) -> StreamState:
        return reads.describe(self.table, stream_type, stream_id)

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage:
        return self.listing.list_streams(stream_type, updated_after, limit, page_key)

    def delete(self, stream_type: str, stream_id: str, expected: int | None, mode: DeleteMode) -> None:
        self.lifecycle.delete(stream_type, stream_id, expected, mode)

    def get_metadata(self, stream_type: str, stream_id: str) -> StreamMetadata:
        return self.lifecycle.get_metadata(stream_type, stream_id)

    def set_metadata(
        self, stream_type: str, stream_id: str, metadata: StreamMetadata, expected: int | None
    ) -> StreamMetadata:
        return self.lifecycle.set_metadata(stream_type, stream_id, metadata, expected)

    def erase_data_subject(self, data_subject: str, caller: Caller) -> DataSubjectState:
        return self._keys().erase(data_subject, caller)

    def data_subject(self, data_subject: str) -> DataSubjectState:
        return self._keys().describe(data_subject)

    def _keys(self) -> Keyring:
        if self.keyring is None:
            from eventstore.erasure import KeysNotConfigured  # noqa: PLC0415 - a deployment fault only

            raise KeysNotConfigured("this function has no data-subject keys (EVENTSTORE_KEYS_TABLE_NAME)")
        return self.keyring

    # FeedStore

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
        from eventstore.feedreads import read_page  # noqa: PLC0415 - read_feed only (self.feed_source)

        return read_page(
            self.feed_source,
            stream_type,
            after,
            limit,
            event_types=event_types,
            member=member,
            size=size,
            open_commit=self._open_commit,
        )

    def _open_commit(self, commit: Commit) -> Commit:
        if all(e.sealed is None and e.stored_ref is None for e in commit.events):
            return commit
        loaded = replace(commit, events=tuple(load(e, self.payloads) for e in commit.events))
        if all(e.sealed is None for e in loaded.events):
            return loaded
        return self._keys().open_commit(loaded)

    def stream_types(self, after: str | None, limit: int) -> StreamTypePage:
        return self.feed_source.stream_types(after, limit)

    def get_checkpoint(self, name: str) -> Checkpoint:
        return self.checkpoints.get(name)

    def put_checkpoint(self, name: str, position: str, expected: str | NotGiven | None) -> Checkpoint:
        return self.checkpoints.put(name, position, expected)

    # SnapshotStore

    def put_snapshot(self, stream_type: str, stream_id: str, snapshot: NewSnapshot) -> SnapshotWritten:
        return self.snapshots.put(stream_type, stream_id, snapshot)

    def get_snapshot(self, stream_type: str, stream_id: str) -> Snapshot:
        return self.snapshots.get(stream_type, stream_id)

    # NotificationCursor (and the feed writer's FeedLog)

    def head(self, feed: str) -> FeedItem | None:
        return self.feed_log.head(feed)

    def put(self, item: FeedItem) -> bool:
        return self.feed_log.put(item)

    def block(self, first: int, last: int) -> list[FeedItem]:
        return self.feed_log.block(first, last)

    def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
        return self.cursor.cursors(stream_ids)

    def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
        self.cursor.advance_fed(stream_id, stream_type, revision)

    def move_cursors(
        self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
    ) -> bool:
        return self.cursor.move_cursors(stream_id, stream_type, fed, notified, read)

    def commits_between(self, stream_id: str, first_revision: int, last_revision: int) -> list[Commit]:
        return self.cursor.commits_between(stream_id, first_revision, last_revision)

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        return self.cursor.mark_if_late(commit, written_at)

    def complete_deletion(self, marker: LifecycleMarker) -> None:
        self.lifecycle.complete_deletion(marker)
