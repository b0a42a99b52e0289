"""The feed writer's log on the events table (eventstore.feedwriter.FeedLog; the summaries' part is
eventstore.dynamodb.cursor), and the stream type registry's writes (docs/design.md, "Feeds").

Feed items are keyed `$feed` + k (type feeds' items from before the block index: `$feed:<type>` + k), the
stream type registry `$stream-types` + a number derived from the type's name; neither has a listing-index
key or a digest, so they stay out of the listing and never reach notify_stream.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from eventstore.dynamodb.access import Table, condition_failed, dynamodb_errors
from eventstore.feeds import (
    ALL_FEED,
    STREAM_TYPES_KEY,
    FeedItem,
    decode_item,
    encode_item,
    stream_type_number,
)


class TableFeedLog:
    """The feed items of FeedLog on one table (consistent reads: the writer decides on them)."""

    def __init__(self, table: Table) -> None:
        self._table = table
        # The stream types this container has registered: each costs one conditional put, once.
        self._registered: set[str] = set()

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
        # Before the item: once a type is in the feed, it is listed. One conditional put per type per
        # container (the first writer's time stays); later batches of the type cost nothing.
        for stream_type in sorted({ref.stream_type for ref in item.refs} - self._registered):
            self.register_type(stream_type, item.written_at)
            self._registered.add(stream_type)
        return self._put_new(encode_item(item))

    def block(self, first: int, last: int) -> list[FeedItem]:
        return [decode_item(item) for item in feed_range(self._table, ALL_FEED, first, last, consistent=True)]

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

    def register_type(self, stream_type: str, first_seen_at: str) -> None:
        """Put the type's registry item unless it is there (a lost condition: another writer was first)."""
        try:
            with dynamodb_errors():
                self._table.client.put_item(
                    TableName=self._table.name,
                    Item={
                        **self._table.key(STREAM_TYPES_KEY, stream_type_number(stream_type)),
                        "streamType": {"S": stream_type},
                        "firstSeenAt": {"S": first_seen_at},
                    },
                    ConditionExpression="attribute_not_exists(#rev)",
                    ExpressionAttributeNames={"#rev": self._table.layout.range_key},
                )
        except ClientError as exc:
            if not condition_failed(exc):
                raise


def feed_range(table: Table, feed: str, first: int, last: int, *, consistent: bool) -> list[Any]:
    """Items first..last of a feed, every page of the Query."""
    request: Any = {
        "TableName": table.name,
        "KeyConditionExpression": "#id = :feed AND #rev BETWEEN :first AND :last",
        "ExpressionAttributeNames": {
            "#id": table.layout.hash_key,
            "#rev": table.layout.range_key,
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
        response = table.query(request)
        items += response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
