"""The feed reader's source on the events table (eventstore.feedreads.FeedSource: eventually consistent
reads, so a page stops at a hole and a missing commit is read again), and the stream type registry's reads
(docs/design.md, "Feeds")."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from eventstore.commits import Commit, decode_commit
from eventstore.dynamodb.access import Table
from eventstore.dynamodb.feeds import feed_range
from eventstore.feedreads import StreamTypeInfo, StreamTypePage
from eventstore.feeds import (
    ALL_FEED,
    BLOCK_INDEX,
    STREAM_TYPES_KEY,
    FeedIndex,
    FeedItem,
    block_of,
    block_range,
    decode_index,
    decode_item,
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


class TableFeedSource:
    """FeedSource and the stream type registry's pages on one table."""

    def __init__(
        self,
        table: Table,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retention: Mapping[str, Retention] | None = None,
    ) -> None:
        self._table = table
        self._clock = clock
        self._retention = retention or {}

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
            for item in feed_range(self._table, ALL_FEED, sequences[0], sequences[-1], consistent=False):
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
