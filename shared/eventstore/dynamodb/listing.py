"""Listing: streams of a type by the time of their newest commit, from the sharded commit index.

docs/design.md, "Listing", holds the argument for why paging never skips a stream.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from eventstore import timefmt
from eventstore.commits import Item
from eventstore.domain import StreamState
from eventstore.dynamodb.access import Settling, Table, dynamodb_errors
from eventstore.listing import StreamPage
from eventstore.pagekeys import PageKeySigner, decode_listing_key
from eventstore.table import layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

MAX_BATCH_GET_KEYS: Final = 100
BATCH_GET_ATTEMPTS: Final = 4
MAX_LISTING_ROUNDS: Final = 5
"""Index Queries one list page may make when superseded entries leave it less than half full."""
PAGE_KEY_VERSION: Final = 2
"""Version 2: a position in the sharded commit index (version 1 held a DynamoDB LastEvaluatedKey)."""

log = logging.getLogger(__name__)


class StreamListing:
    """list_streams on one table."""

    def __init__(self, table: Table, settling: Settling, page_keys: PageKeySigner | None) -> None:
        self._table = table
        self._settling = settling
        self._page_keys = page_keys

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage:
        """Streams of a type by the time of their newest commit.

        A round reads the next entries of the commit index in position order, merged over the type's
        index shards (one Query each), and drops with one BatchGetItem the entries a newer commit has
        superseded; more rounds only while superseded entries leave the page less than half full.
        Entries up to the horizon (now minus the settle window) are settled: the cursor passes only what
        it has seen, so paging never skips. Entries after it (the tail) are listed too, as far as the index
        shows them already, but they are listed again later: a page key moves past the horizon only to
        continue a tail that did not fit a page, and then keeps the horizon where it was.
        """
        if self._page_keys is None:
            raise RuntimeError("this store was built without a page-key signer; listing needs one")
        try:
            lower = timefmt.format_instant(
                (updated_after or datetime(1970, 1, 1, tzinfo=UTC)) + timedelta(microseconds=1)
            )
        except OverflowError:
            return StreamPage((), has_more=False, next_page_key=None, settled_until=None)
        # Entries younger than the settle window may not be in the (eventually consistent) index yet.
        # Positions start with the fixed-width time and "|": "~" sorts after every position of `upper`.
        upper = timefmt.format_instant(self._settling.clock() - self._settling.window) + "~"
        cursor = lower
        if page_key is not None:
            cursor, earlier_upper = decode_listing_key(
                self._page_keys, page_key, stream_type, lower, PAGE_KEY_VERSION
            )
            # A key past its horizon continues a tail (the settled entries are all listed): moving the
            # horizon then would count tail entries the cursor passed unseen as listed. Otherwise the
            # horizon never moves back, though the container serving this page may have a clock a little
            # behind the previous one's (those entries had settled by that clock).
            upper = earlier_upper if cursor > earlier_upper else max(upper, earlier_upper)
        entries: list[Item] = []
        more = True
        for _ in range(MAX_LISTING_ROUNDS):
            batch, cursor, more = self._next_entries(stream_type, cursor, limit - len(entries))
            settled = [item for item in batch if _position(item) <= upper]
            tail = batch[len(settled) :]
            entries += self._current(
                _newest_entry_per_stream(settled) + _newest_entry_per_stream(tail), upper
            )
            if not more or 2 * len(entries) >= limit:
                break
        # A stream can be current in two rounds (appended to between them), or settled and in the tail.
        hash_key = self._table.layout.hash_key
        streams = tuple(
            StreamState(
                stream_id=item[hash_key]["S"],
                stream_type=stream_type,
                revision=int(item["lastRevision"]["N"]),
                updated_at=_position(item).split("|", 1)[0],
            )
            for item in _newest_entry_per_stream(entries)
        )
        next_key = None
        if more:
            next_key = self._page_keys.encode(
                {
                    "v": PAGE_KEY_VERSION,
                    "type": stream_type,
                    "after": lower,
                    "position": cursor,
                    "upper": upper,
                }
            )
        return StreamPage(
            streams,
            has_more=next_key is not None,
            next_page_key=next_key,
            settled_until=upper.removesuffix("~"),
        )

    def _next_entries(self, stream_type: str, start: str, count: int) -> tuple[list[Item], str, bool]:
        """Up to `count` index entries after position `start`, in position order over all shards: the
        entries, the position of the last one (`start` if none) and whether more may follow it."""
        shards = [
            self._shard_entries(f"{stream_type}#{shard}", start, count)
            for shard in range(self._table.layout.listing_shards)
        ]
        # Beyond the last entry of a shard that has more, entries of that shard are still unread.
        horizon = min((_position(items[-1]) for items, truncated in shards if truncated), default=None)
        merged = heapq.merge(*(items for items, _ in shards), key=_position)
        taken = list(
            itertools.islice(
                itertools.takewhile(lambda i: horizon is None or _position(i) <= horizon, merged), count
            )
        )
        total = sum(len(items) for items, _ in shards)
        more = horizon is not None or len(taken) < total
        return taken, (_position(taken[-1]) if taken else start), more

    def _shard_entries(self, shard: str, start: str, count: int) -> tuple[list[Item], bool]:
        """Up to `count` entries of one shard after position `start` (exclusive, since positions are
        unique; a bare time as `start` is before every position at that time) and whether it has more."""
        request: QueryInputTypeDef = {
            "TableName": self._table.name,
            "IndexName": self._table.layout.listing_index,
            "KeyConditionExpression": "#shard = :shard AND #position >= :start",
            "ExpressionAttributeNames": {
                "#shard": self._table.layout.listing_hash_key,
                "#position": self._table.layout.listing_range_key,
            },
            "ExpressionAttributeValues": {":shard": {"S": shard}, ":start": {"S": start}},
            "Limit": count + 1,  # the entry at `start` itself comes back first
        }
        response = self._table.query(request)
        items = [item for item in response.get("Items", []) if _position(item) != start]
        while not items and "LastEvaluatedKey" in response:  # a page of only `start` (a 1 MB page cut)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            response = self._table.query(request)
            items = [item for item in response.get("Items", []) if _position(item) != start]
        truncated = "LastEvaluatedKey" in response
        if len(items) > count:
            items, truncated = items[:count], True
        return items, truncated

    def _current(self, entries: list[Item], upper: str) -> list[Item]:
        """The entries that are their stream's newest: no commit starts right after their last revision,
        or (for a settled entry) none that has settled, at or before `upper`.

        A superseded entry is dropped: the newer commit's entry has a later position (commit times are
        monotonic per stream, a marker is stamped after its commit), so it comes later in this listing. A
        newer commit that has not settled does not supersede a settled entry: a stream appended to all the
        time would otherwise never be listed (its tail entry is shown besides, as far as it is visible).
        Keys BatchGetItem leaves unprocessed are kept: listing a stream twice is harmless, skipping it is
        not.
        """
        hash_key = self._table.layout.hash_key
        successors = {(item[hash_key]["S"], int(item["lastRevision"]["N"]) + 1) for item in entries}
        keys = [self._table.key(stream_id, revision) for stream_id, revision in sorted(successors)]
        found: dict[tuple[str, int], str] = {}
        for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
            found |= self._existing_positions(keys[start : start + MAX_BATCH_GET_KEYS])
        current = []
        for item in entries:
            successor = found.get((item[hash_key]["S"], int(item["lastRevision"]["N"]) + 1))
            if successor is None or (successor > upper and _position(item) <= upper):
                current.append(item)
        return current

    def _existing_positions(self, keys: list[Item]) -> dict[tuple[str, int], str]:
        """The listing positions of those keys that exist, by key (eventually consistent: a miss only
        lists a stream once more)."""
        table, names = self._table.name, self._table.layout
        found: dict[tuple[str, int], str] = {}
        pending: Any = keys
        for attempt in range(BATCH_GET_ATTEMPTS):
            if not pending:
                break
            if attempt:
                time.sleep(0.02 * 2**attempt)
            with dynamodb_errors():
                response = self._table.client.batch_get_item(
                    RequestItems={
                        table: {
                            "Keys": pending,
                            "ProjectionExpression": "#id, #rev, #position",
                            "ExpressionAttributeNames": {
                                "#id": names.hash_key,
                                "#rev": names.range_key,
                                "#position": names.listing_range_key,
                            },
                        }
                    }
                )
            answered: Any = response.get("Responses", {}).get(table, [])
            # A successor without a listing position is a lifecycle marker: the stream is deleted, and
            # its entries are dropped like superseded ones (a restart's commit is listed again).
            found |= {
                (item[names.hash_key]["S"], int(item[names.range_key]["N"])): _position(item)
                if names.listing_range_key in item
                else ""
                for item in answered
            }
            unprocessed: Any = response.get("UnprocessedKeys", {})
            pending = unprocessed.get(table, {}).get("Keys", [])
        if pending:
            log.warning(
                "BatchGetItem left keys unprocessed; listing their streams", extra={"keys": len(pending)}
            )
        return found


def _position(item: Item) -> str:
    return item[layout().listing_range_key]["S"]


def _newest_entry_per_stream(items: Sequence[Item]) -> list[Item]:
    """One index entry per stream: its highest revision (a marker can follow a newer commit in time), in
    the page's order."""
    best: dict[str, tuple[int, Item]] = {}
    for position, item in enumerate(items):
        stream_id = item["streamId"]["S"]
        held = best.get(stream_id)
        if held is None or int(item["lastRevision"]["N"]) >= int(held[1]["lastRevision"]["N"]):
            best[stream_id] = (position, item)
    return [item for _, item in sorted(best.values(), key=lambda pair: pair[0])]
