"""notify_stream's cursor: each stream's summary item (revision 0, outside the listing index) records the
last revision published; it moves forward only in revision order (docs/design.md, "Notifications")."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eventstore.commits import Commit
from eventstore.domain import SummaryAdvance
from eventstore.dynamodb.access import Table, condition_failed, dynamodb_errors
from eventstore.dynamodb.markers import ListingMarkers
from eventstore.store import MAX_PAGE_EVENTS
from eventstore.table import SUMMARY_REVISION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


class SummaryCursor:
    """The NotificationCursor on one table."""

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

    def notified_revision(self, stream_id: str) -> int:
        """The last revision notify_stream published and recorded in the stream's summary (0: none yet)."""
        with dynamodb_errors():
            response = self._table.client.get_item(
                TableName=self._table.name,
                Key=self._table.key(stream_id, SUMMARY_REVISION),
                ProjectionExpression="lastRevision",
                ConsistentRead=True,
            )
        item: Any = response.get("Item")
        return int(item["lastRevision"]["N"]) if item else 0

    def advance_summary(
        self, stream_id: str, stream_type: str, first_revision: int, last_revision: int
    ) -> SummaryAdvance:
        """Move the stream's summary to last_revision if it stands right before first_revision.

        The condition makes the summary the per-stream notification cursor (docs/design.md).
        """
        expected_previous = first_revision - 1
        for _ in range(2):
            try:
                with dynamodb_errors():
                    self._update_summary(stream_id, stream_type, expected_previous, last_revision)
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                old: Any = exc.response.get("Item")
                recorded = int(old["lastRevision"]["N"]) if old else 0
                if recorded >= last_revision:
                    return SummaryAdvance.ALREADY_RECORDED
                if recorded < first_revision - 1:
                    return SummaryAdvance.PREDECESSOR_PENDING
                # An earlier attempt recorded part of this range (a commit boundary inside it).
                expected_previous = recorded
            else:
                return SummaryAdvance.ADVANCED
        return SummaryAdvance.PREDECESSOR_PENDING

    def _update_summary(
        self, stream_id: str, stream_type: str, expected_previous: int, last_revision: int
    ) -> None:
        if expected_previous == 0:
            condition = "attribute_not_exists(lastRevision)"
            values: dict[str, AttributeValueTypeDef] = {}
        else:
            condition = "lastRevision = :previous"
            values = {":previous": {"N": str(expected_previous)}}
        self._table.client.update_item(
            TableName=self._table.name,
            Key=self._table.key(stream_id, SUMMARY_REVISION),
            # No listing-index key here: the summary stays out of the index, so advancing it costs 1 WRU.
            UpdateExpression="SET streamType = :type, lastRevision = :last",
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":type": {"S": stream_type},
                ":last": {"N": str(last_revision)},
                **values,
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
