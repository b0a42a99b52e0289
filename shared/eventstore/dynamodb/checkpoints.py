"""Consumer checkpoints on the events table: one item per name, keyed `$checkpoint:<name>` + 0, with no
listing-index key or digest (docs/design.md, "Feeds")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from eventstore import timefmt
from eventstore.checkpoints import Checkpoint, checkpoint_key
from eventstore.domain import CheckpointConflict, CheckpointNotFound, NotGiven
from eventstore.dynamodb.access import Table, condition_failed, dynamodb_errors
from eventstore.positions import check_position
from eventstore.table import SUMMARY_REVISION


class TableCheckpoints:
    """Checkpoints on one table: read, and put compare-and-set on the stored position."""

    def __init__(self, table: Table, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._table = table
        self._clock = clock

    def get(self, name: str) -> Checkpoint:
        item = self._table.get_item(checkpoint_key(name), SUMMARY_REVISION)
        if item is None:
            raise CheckpointNotFound(name)
        return _checkpoint(name, item)

    def put(self, name: str, position: str, expected: str | NotGiven | None) -> Checkpoint:
        check_position(position, "/body/position")
        checkpoint = Checkpoint(name, position, timefmt.format_instant(self._clock()))
        request: Any = {
            "TableName": self._table.name,
            "Item": {
                **self._table.key(checkpoint_key(name), SUMMARY_REVISION),
                "position": {"S": position},
                "updatedAt": {"S": checkpoint.updated_at},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected is None:
            request["ConditionExpression"] = "attribute_not_exists(#pos)"
            request["ExpressionAttributeNames"] = {"#pos": "position"}
        elif not isinstance(expected, NotGiven):
            request["ConditionExpression"] = "#pos = :expected"
            request["ExpressionAttributeNames"] = {"#pos": "position"}
            request["ExpressionAttributeValues"] = {":expected": {"S": expected}}
        try:
            with dynamodb_errors():
                self._table.client.put_item(**request)
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old: Any = exc.response.get("Item")
            raise CheckpointConflict(name, old["position"]["S"] if old else None) from exc
        return checkpoint


def _checkpoint(name: str, item: Any) -> Checkpoint:
    return Checkpoint(name, item["position"]["S"], item["updatedAt"]["S"])
