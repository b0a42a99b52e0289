"""DynamoEventStore: the EventStore, FeedStore and NotificationCursor on one DynamoDB table, composed of
the writer, the reads, the listing, the cursor and the feeds (each given the same table)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from eventstore.commits import Commit
from eventstore.domain import (
    AppendResult,
    Caller,
    Checkpoint,
    DataSubjectState,
    EventPage,
    ExpectedRevision,
    FeedPage,
    NewEvent,
    NotGiven,
    StreamPage,
    StreamState,
)
from eventstore.dynamodb import reads
from eventstore.dynamodb.access import Settling, Table
from eventstore.dynamodb.cursor import SummaryCursor
from eventstore.dynamodb.feeds import TableFeeds
from eventstore.dynamodb.listing import StreamListing
from eventstore.dynamodb.markers import ListingMarkers
from eventstore.dynamodb.writes import ANY_APPEND_BUDGET, CommitWriter
from eventstore.erasure import Keyring, KeysNotConfigured, seal_without_keys
from eventstore.feeds import FeedItem, StreamCursors, read_page
from eventstore.pagekeys import PageKeySigner

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoEventStore:
    """EventStore, FeedStore and NotificationCursor on one DynamoDB table (names and keys from table.json)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        page_keys: PageKeySigner | None = None,
        listing_settle: timedelta = timedelta(seconds=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        any_append_budget: timedelta = ANY_APPEND_BUDGET,
        keyring: Keyring | None = None,
    ) -> None:
        self.table = Table(client, table_name)
        self.keyring = keyring
        settling = Settling(listing_settle, clock)
        self.markers = ListingMarkers(self.table, settling)
        self.writer = CommitWriter(
            self.table,
            self.markers,
            settling,
            any_append_budget=any_append_budget,
            seal=keyring.seal if keyring is not None else seal_without_keys,
        )
        self.listing = StreamListing(self.table, settling, page_keys)
        self.cursor = SummaryCursor(self.table, self.markers)
        self.feeds = TableFeeds(self.table, clock)

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
        page = reads.read(self.table, stream_type, stream_id, after_revision, limit)
        if all(e.sealed is None for e in page.events):
            return page
        return self._keys().open_page(page)

    def describe(self, stream_type: str, stream_id: str) -> StreamState:
        return reads.describe(self.table, stream_type, stream_id)

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage:
        return self.listing.list_streams(stream_type, updated_after, limit, page_key)

    def erase_data_subject(self, data_subject: str, caller: Caller) -> DataSubjectState:
        return self._keys().erase(data_subject, caller)

    def data_subject(self, data_subject: str) -> DataSubjectState:
        return self._keys().describe(data_subject)

    def _keys(self) -> Keyring:
        if self.keyring is None:
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
        return read_page(
            self.feeds,
            stream_type,
            after,
            limit,
            event_types=event_types,
            member=member,
            size=size,
            open_commit=self._open_commit,
        )

    def _open_commit(self, commit: Commit) -> Commit:
        if all(e.sealed is None for e in commit.events):
            return commit
        return self._keys().open_commit(commit)

    def get_checkpoint(self, name: str) -> Checkpoint:
        return self.feeds.get_checkpoint(name)

    def put_checkpoint(self, name: str, position: str, expected: str | NotGiven | None) -> Checkpoint:
        return self.feeds.put_checkpoint(name, position, expected)

    # NotificationCursor (and the feed writer's FeedLog)

    def head(self, feed: str) -> FeedItem | None:
        return self.feeds.head(feed)

    def put(self, item: FeedItem) -> bool:
        return self.feeds.put(item)

    def block(self, first: int, last: int) -> list[FeedItem]:
        return self.feeds.block(first, last)

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
