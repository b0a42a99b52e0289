"""Feeds and checkpoints on the events table: the feed writer's log (eventstore.feeds.FeedLog), the page
reader's source, and checkpoint items (docs/design.md, "Feeds").

Feed items are keyed `$feed` + k (type feeds' items from before the block index: `$feed:<type>` + k),
checkpoints `$checkpoint:<name>` + 0; none of them has a listing-index key or a
digest, so they stay out of the listing and never reach notify_stream.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from eventstore import timefmt
from eventstore.commits import Commit, decode_commit
from eventstore.domain import (
    Checkpoint,
    CheckpointConflict,
    CheckpointNotFound,
    NotGiven,
)
from eventstore.dynamodb.access import Table, condition_failed, dynamodb_errors
from eventstore.feeds import (
    ALL_FEED,
    BLOCK_INDEX,
    FeedIndex,
    FeedItem,
    block_of,
    block_range,
    check_position,
    checkpoint_key,
    decode_index,
    decode_item,
    encode_item,
)
from eventstore.table import SUMMARY_REVISION


class TableFeeds:
    """The feed items of FeedLog (the summaries' part is eventstore.dynamodb.cursor), FeedSource and
    checkpoints on one table."""

    def __init__(self, table: Table, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._table = table
        self._clock = clock

    # FeedLog's items (consistent reads: the writer decides on them)

    def head(self, feed: str) -> FeedItem | None:
        response = self._table.query(
            {
                "TableName": self._table.name,
                "KeyConditionExpression": "#id = :feed",
                "ExpressionAttributeNames": {"#id": self._table.layout.hash_key},
                "ExpressionAttributeValues": {":feed": {"S": feed}},
                "ScanIndexForward": False,
                "ConsistentRead": True,
                "Limit": 1,
            }
        )
        items = response.get("Items", [])
        return decode_item(items[0]) if items else None

    def put(self, item: FeedItem) -> bool:
        return self._put_new(encode_item(item))

    def block(self, first: int, last: int) -> list[FeedItem]:
        return [decode_item(item) for item in self._range(ALL_FEED, first, last, consistent=True)]

    def _put_new(self, item: Any) -> bool:
        try:
            with dynamodb_errors():
                self._table.client.put_item(
                    TableName=self._table.name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#rev)",
                    ExpressionAttributeNames={"#rev": self._table.layout.range_key},
                )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _range(self, feed: str, first: int, last: int, *, consistent: bool) -> list[Any]:
        request: Any = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#id = :feed AND #rev BETWEEN :first AND :last",
            "ExpressionAttributeNames": {
                "#id": self._table.layout.hash_key,
                "#rev": self._table.layout.range_key,
            },
            "ExpressionAttributeValues": {
                ":feed": {"S": feed},
                ":first": {"N": str(first)},
                ":last": {"N": str(last)},
            },
            "ConsistentRead": consistent,
        }
        items: list[Any] = []
        while True:
            response = self._table.query(request)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # FeedSource (eventually consistent: a page stops at a hole, and a missing commit is read again)

    def items(self, feed: str, first: int, limit: int) -> list[FeedItem]:
        response = self._table.query(
            {
                "TableName": self._table.name,
                "KeyConditionExpression": "#id = :feed AND #rev >= :first",
                "ExpressionAttributeNames": {
                    "#id": self._table.layout.hash_key,
                    "#rev": self._table.layout.range_key,
                },
                "ExpressionAttributeValues": {":feed": {"S": feed}, ":first": {"N": str(first)}},
                "Limit": limit,
            }
        )
        return [decode_item(item) for item in response.get("Items", [])]

    def indexes(self, first: int, limit: int) -> list[FeedIndex]:
        """One BatchGetItem of the blocks' opening items, their keys and index only."""
        keys = [self._table.key(ALL_FEED, block_range(b)[1] + 1) for b in range(first, first + limit)]
        found = self._table.batch_get(keys, consistent=False, projection=f"#id, #rev, {BLOCK_INDEX}")
        indexes = []
        for (_, sequence), item in sorted(found.items()):
            block = block_of(sequence) - 1
            text = item.get(BLOCK_INDEX, {}).get("S")
            indexes.append(FeedIndex(block, None if text is None else decode_index(block, text).types))
        return indexes

    def items_at(self, sequences: Sequence[int]) -> dict[int, FeedItem]:
        if not sequences:
            return {}
        found: dict[int, FeedItem] = {}
        if 4 * len(sequences) >= sequences[-1] - sequences[0] + 1:
            # Dense: one Query of the range costs less than a BatchGetItem, which rounds each item to 4 KB.
            wanted = set(sequences)
            for item in self._range(ALL_FEED, sequences[0], sequences[-1], consistent=False):
                decoded = decode_item(item)
                if decoded.sequence in wanted:
                    found[decoded.sequence] = decoded
        else:
            found |= self._items_by_key(sequences, consistent=False)
        missing = [k for k in sequences if k not in found]
        if missing:
            # Written before the index that named them, but not yet on the replica read.
            found |= self._items_by_key(missing, consistent=True)
        return found

    def _items_by_key(self, sequences: Sequence[int], *, consistent: bool) -> dict[int, FeedItem]:
        keys = [self._table.key(ALL_FEED, k) for k in sequences]
        return {
            key[1]: decode_item(item)
            for key, item in self._table.batch_get(keys, consistent=consistent).items()
        }

    def commits(self, keys: Collection[tuple[str, int]]) -> dict[tuple[str, int], Commit]:
        wanted = [self._table.key(s, r) for s, r in sorted(keys)]
        found = self._table.batch_get(wanted, consistent=False)
        missing = [k for k in wanted if self._table.key_of(k) not in found]
        if missing:
            # Not yet on the replica read, or deleted: a consistent read tells which.
            found |= self._table.batch_get(missing, consistent=True)
        return {key: decode_commit(item) for key, item in found.items()}

    # Checkpoints

    def get_checkpoint(self, name: str) -> Checkpoint:
        item = self._table.get_item(checkpoint_key(name), SUMMARY_REVISION)
        if item is None:
            raise CheckpointNotFound(name)
        return _checkpoint(name, item)

    def put_checkpoint(self, name: str, position: str, expected: str | NotGiven | None) -> Checkpoint:
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
