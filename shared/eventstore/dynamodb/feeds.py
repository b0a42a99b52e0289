"""Feeds and checkpoints on the events table: the feed writer's log (eventstore.feeds.FeedLog), the page
reader's source, and checkpoint items (docs/design.md, "Feeds").

Feed items are keyed `$feed` / `$feed:<type>` + k, checkpoints `$checkpoint:<name>` + 0, the stream type
registry `$stream-types` + a number derived from the type's name; none of them has a listing-index key or a
digest, so they stay out of the listing and never reach notify_stream.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
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
    StreamTypeInfo,
    StreamTypePage,
)
from eventstore.dynamodb.access import Table, condition_failed, dynamodb_errors
from eventstore.feeds import (
    STREAM_TYPES_KEY,
    FeedItem,
    check_position,
    checkpoint_key,
    decode_item,
    encode_item,
    is_new_type_feed,
    stream_type_number,
)
from eventstore.lifecycle import (
    Retention,
    Visibility,
    decode_control,
    is_marker,
    needs_last_revision,
    visibility,
    visible_part,
)
from eventstore.table import CONTROL_REVISION, SUMMARY_REVISION


class TableFeeds:
    """The feed items of FeedLog (the summaries' part is eventstore.dynamodb.cursor), FeedSource and
    checkpoints on one table."""

    def __init__(
        self,
        table: Table,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retention: Mapping[str, Retention] | None = None,
    ) -> None:
        self._table = table
        self._clock = clock
        self._retention = retention or {}

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
        if is_new_type_feed(item):
            # Before the item: once the type's feed exists, the type is listed. One unconditional (idempotent)
            # put per new type; a writer that lost item 1 to another has written the same registry item.
            self.register_type(item.feed.removeprefix("$feed:"), item.written_at)
        try:
            with dynamodb_errors():
                self._table.client.put_item(
                    TableName=self._table.name,
                    Item=encode_item(item),
                    ConditionExpression="attribute_not_exists(#rev)",
                    ExpressionAttributeNames={"#rev": self._table.layout.range_key},
                )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def register_type(self, stream_type: str, first_seen_at: str) -> None:
        """Put the type's registry item (idempotent: the same key and content for the type every time)."""
        with dynamodb_errors():
            self._table.client.put_item(
                TableName=self._table.name,
                Item={
                    **self._table.key(STREAM_TYPES_KEY, stream_type_number(stream_type)),
                    "streamType": {"S": stream_type},
                    "firstSeenAt": {"S": first_seen_at},
                },
            )

    def stream_types(self, after: str | None, limit: int) -> StreamTypePage:
        """One Query of the registry (eventually consistent): up to `limit` types after `after`."""
        request: Any = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#id = :types",
            "ExpressionAttributeNames": {"#id": self._table.layout.hash_key},
            "ExpressionAttributeValues": {":types": {"S": STREAM_TYPES_KEY}},
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = self._table.key(STREAM_TYPES_KEY, stream_type_number(after))
        response = self._table.query(request)
        types = tuple(
            StreamTypeInfo(item["streamType"]["S"], item["firstSeenAt"]["S"])
            for item in response.get("Items", [])
        )
        return StreamTypePage(
            types,
            has_more="LastEvaluatedKey" in response,
            last_stream_type=types[-1].stream_type if types else after,
        )

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

    def commits(self, keys: Collection[tuple[str, int]]) -> dict[tuple[str, int], Commit]:
        wanted = [self._table.key(s, r) for s, r in sorted(keys)]
        streams = sorted({s for s, _ in keys})
        # The streams' control items come in the same BatchGetItem: what a page may show of them.
        controls = [self._table.key(s, CONTROL_REVISION) for s in streams]
        found = self._table.batch_get(wanted + controls, consistent=False)
        missing = [k for k in wanted if self._table.key_of(k) not in found]
        if missing:
            # Not yet on the replica read, or deleted: a consistent read tells which.
            found |= self._table.batch_get(missing, consistent=True)
        shown = self._visibility(streams, found)
        commits = {
            key: visible_part(decode_commit(item), shown[key[0]])
            for key, item in found.items()
            if key[1] >= 1 and not is_marker(item)
        }
        return {key: commit for key, commit in commits.items() if commit is not None}

    def _visibility(
        self, streams: list[str], found: dict[tuple[str, int], Any]
    ) -> dict[str, Visibility | None]:
        """Each stream's visibility (None: tombstoned). A max count counts back from the stream's last fed
        revision (its summary's), read only for the streams that have one."""
        controls = {s: decode_control(found.get((s, CONTROL_REVISION))) for s in streams}
        types = {key[0]: item["streamType"]["S"] for key, item in found.items() if key[1] >= 1}
        defaults = {s: self._retention.get(controls[s].stream_type or types.get(s, "")) for s in streams}
        counted = [s for s in streams if needs_last_revision(controls[s], defaults[s])]
        summaries = self._table.batch_get(
            [self._table.key(s, SUMMARY_REVISION) for s in counted], consistent=False
        )
        now = self._clock()
        shown: dict[str, Visibility | None] = {}
        for s in streams:
            summary = summaries.get((s, SUMMARY_REVISION))
            fed = int(summary["fedRevision"]["N"]) if summary and "fedRevision" in summary else None
            gone = controls[s].tombstoned
            shown[s] = None if gone else visibility(controls[s], defaults[s], now, fed)
        return shown

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
