"""notify_stream's cursors: each stream's summary item (revision 0, outside the listing index) records the
last revision fed (`fedRevision`) and the last published (`lastRevision`); both move forward only, in one
write per stream per batch (docs/design.md, "Notifications", "Feeds")."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eventstore.commits import Commit
from eventstore.dynamodb.access import Table, condition_failed, dynamodb_errors
from eventstore.dynamodb.markers import ListingMarkers
from eventstore.feedwriter import StreamCursors
from eventstore.store import MAX_PAGE_EVENTS
from eventstore.table import SUMMARY_REVISION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


class SummaryCursor:
    """The summaries' part of the NotificationCursor on one table (the feed items: dynamodb.feeds)."""

    def __init__(self, table: Table, markers: ListingMarkers) -> None:
        self._table = table
        self._markers = markers

    def commits_between(self, stream_id: str, first_revision: int, last_revision: int) -> list[Commit]:
        """The commits holding revisions first..last (notify_stream fills gaps in its input with them)."""
        commits, _ = self._table.commits(
            stream_id, first_revision, last_revision, newest_first=False, limit=MAX_PAGE_EVENTS
        )
        return commits

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        return self._markers.mark_if_late(commit, written_at)

    def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
        """Each stream's cursors, one consistent GetItem per stream (as notify_stream read its summary
        before the feeds: its role may read items one by one)."""
        cursors: dict[str, StreamCursors] = {}
        for stream_id in stream_ids:
            with dynamodb_errors():
                response = self._table.client.get_item(
                    TableName=self._table.name,
                    Key=self._table.key(stream_id, SUMMARY_REVISION),
                    ProjectionExpression="fedRevision, lastRevision",
                    ConsistentRead=True,
                )
            item: Any = response.get("Item") or {}
            cursors[stream_id] = StreamCursors(_number(item, "fedRevision"), _number(item, "lastRevision"))
        return cursors

    def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
        try:
            self._update_summary(
                stream_id,
                "SET fedRevision = :fed, streamType = :type",
                "attribute_not_exists(fedRevision) OR fedRevision < :fed",
                {":fed": {"N": str(revision)}, ":type": {"S": stream_type}},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise  # a failed condition: another writer moved it as far already

    def move_cursors(
        self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
    ) -> bool:
        """Both cursors in one UpdateItem (one write unit: the summary is small and outside the index)."""
        values: dict[str, AttributeValueTypeDef] = {
            ":fed": {"N": str(fed)},
            ":notified": {"N": str(notified)},
            ":type": {"S": stream_type},
            ":read": {"N": str(read.notified)},
        }
        # A summary without lastRevision reads as notified 0 (a move may also have written 0 there).
        notified_as_read = "attribute_not_exists(lastRevision) OR lastRevision = :read"
        if read.notified:
            notified_as_read = "lastRevision = :read"
        try:
            self._update_summary(
                stream_id,
                "SET fedRevision = :fed, lastRevision = :notified, streamType = :type",
                f"({notified_as_read}) AND (attribute_not_exists(fedRevision) OR fedRevision <= :fed)",
                values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _update_summary(
        self, stream_id: str, update: str, condition: str, values: dict[str, AttributeValueTypeDef]
    ) -> None:
        # No listing-index key here: the summary stays out of the index, so a write costs 1 WRU.
        with dynamodb_errors():
            self._table.client.update_item(
                TableName=self._table.name,
                Key=self._table.key(stream_id, SUMMARY_REVISION),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )


def _number(item: Any, name: str) -> int:
    return int(item[name]["N"]) if name in item else 0
