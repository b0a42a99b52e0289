"""All DynamoDB access. One narrow interface (EventStore) and its DynamoDB implementation.

Layout and the reasoning behind it: docs/design.md. In short, each append is one immutable "commit" item
keyed by the revision of its first event, written with one conditional PutItem after one consistent Query
of the newest commit. Listing reads a sparse index over the commit items themselves; a stream's summary
(revision 0, no index entry) is notify_stream's per-stream cursor.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import heapq
import itertools
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from eventstore import timefmt
from eventstore.domain import (
    ANY_REVISION,
    AppendResult,
    Caller,
    EventIdConflict,
    EventPage,
    ExpectedRevision,
    InvalidRequest,
    NewEvent,
    PayloadTooLarge,
    RecordedEvent,
    ServiceUnavailable,
    StreamAlreadyExists,
    StreamNotFound,
    StreamPage,
    StreamState,
    SummaryAdvance,
    WrongExpectedRevision,
)
from eventstore.pagekeys import InvalidPageKey, PageKeySigner
from eventstore.table import LISTING_MARKER_REVISION, SUMMARY_REVISION, layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef, QueryOutputTypeDef

MAX_ITEM_BYTES: Final = 400 * 1024
MAX_QUERY_PAGE_EVENTS: Final = 1000
MAX_BATCH_GET_KEYS: Final = 100
BATCH_GET_ATTEMPTS: Final = 4
MAX_LISTING_ROUNDS: Final = 5
PAGE_KEY_VERSION: Final = 2
"""Version 2: a position in the sharded commit index (version 1 held a DynamoDB LastEvaluatedKey)."""
"""Index Queries one list page may make when superseded entries leave it less than half full."""
MAX_REVISION: Final = 2**63 - 1
ANY_APPEND_BUDGET: Final = timedelta(seconds=5)
"""How long an "any" append keeps retrying lost races: well inside the functions' timeout (10 s by default)
and API Gateway's 29 s, so a stream that stays this busy answers a 503 with Retry-After, not a timeout."""
ANY_BACKOFF_FIRST_SECONDS: Final = 0.005
ANY_BACKOFF_MAX_SECONDS: Final = 1.0
ANY_RETRY_HORIZON: Final = 10
"""A retried "any" append is recognised (replayed, not duplicated) while it is among the newest commits."""
MARKER_ATTEMPTS: Final = 3
"""Listing-marker writes per mark: a marker write that is itself slow is stamped again."""
REPLAY_MARK_HORIZON_SECONDS: Final = 300
"""A replay of a commit at most this old marks it for listing if it is older than the late-write limit."""

# DynamoDB error codes that mean "try again later"; botocore has already retried them.
_TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)

type Item = dict[str, AttributeValueTypeDef]

log = logging.getLogger(__name__)


class EventStore(Protocol):
    """The storage interface every handler uses; tests/contract runs one suite against each fixture."""

    def create(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult: ...

    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        events: Sequence[NewEvent],
        caller: Caller,
    ) -> AppendResult: ...

    def read(self, stream_type: str, stream_id: str, after_revision: int, limit: int) -> EventPage: ...

    def describe(self, stream_type: str, stream_id: str) -> StreamState: ...

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage: ...

    def notified_revision(self, stream_id: str) -> int: ...

    def advance_summary(
        self, stream_id: str, stream_type: str, first_revision: int, last_revision: int
    ) -> SummaryAdvance: ...


@dataclass(frozen=True, slots=True)
class Commit:
    """One append: the item as stored, decoded."""

    stream_id: str
    stream_type: str
    first_revision: int
    last_revision: int
    committed_at: str
    digest: str
    events: tuple[RecordedEvent, ...]

    @property
    def event_ids(self) -> frozenset[str]:
        return frozenset(e.event_id for e in self.events)

    def state(self) -> StreamState:
        return StreamState(self.stream_id, self.stream_type, self.last_revision, self.committed_at)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_digest(events: Sequence[NewEvent]) -> str:
    """What identifies a request's events for idempotent retries: ids, types, payloads, client metadata."""
    canonical = json.dumps(
        [[e.event_id, e.event_type, e.payload, e.metadata] for e in events],
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def item_size(item: Item) -> int:
    """An upper bound of DynamoDB's size of an item (names + values; numbers and containers rounded up)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: AttributeValueTypeDef) -> int:
    if "S" in value:
        return len(value["S"].encode())
    if "N" in value:
        return len(value["N"]) // 2 + 2
    if "L" in value:
        return 3 + sum(1 + _value_size(v) for v in value["L"])
    if "M" in value:
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in value["M"].items())
    return 1


def decode_commit(item: Any) -> Commit:
    """Decode a commit item (from a Query, a GetItem, ALL_OLD or a stream record's NewImage)."""
    stream_id = item["streamId"]["S"]
    first = int(item["revision"]["N"])
    committed_at = item["committedAt"]["S"]
    events = tuple(
        RecordedEvent(
            stream_id=stream_id,
            revision=first + offset,
            event_id=entry["M"]["id"]["S"],
            event_type=entry["M"]["type"]["S"],
            payload=json.loads(entry["M"]["data"]["S"]),
            metadata=json.loads(entry["M"]["meta"]["S"]),
            created_at=committed_at,
        )
        for offset, entry in enumerate(item["events"]["L"])
    )
    return Commit(
        stream_id=stream_id,
        stream_type=item["streamType"]["S"],
        first_revision=first,
        last_revision=int(item["lastRevision"]["N"]),
        committed_at=committed_at,
        digest=item["digest"]["S"],
        events=events,
    )


def is_commit_key(keys: Any) -> bool:
    """Commits start at revision 1; the summary (0) and the listing marker (-1) are not commits."""
    return int(keys["revision"]["N"]) >= 1


class DynamoEventStore:
    """EventStore on one DynamoDB table (names and keys from table.json)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        page_keys: PageKeySigner | None = None,
        listing_settle: timedelta = timedelta(seconds=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        any_append_budget: timedelta = ANY_APPEND_BUDGET,
    ) -> None:
        self._db = client
        self._table = table_name
        self._page_keys = page_keys
        self._settle = listing_settle
        # A commit is stamped just before its PutItem. One that took longer than this to land may be
        # visible only after a listing cursor passed its stamp (zero settle: tests; nothing to protect).
        self._late_write = listing_settle.total_seconds() / 2 if listing_settle > timedelta(0) else None
        self._clock = clock
        self._any_budget = any_append_budget.total_seconds()
        self._jitter = random.Random()  # noqa: S311 - back-off jitter, not a secret
        self._layout = layout()

    # Writes -------------------------------------------------------------------------------------

    def create(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult:
        commit = self._commit_item(stream_type, stream_id, 1, events, caller=caller, after=None)
        existing = self._put_commit(commit)
        if existing is None:
            return self._written(commit)
        digest = commit["digest"]["S"]
        if existing.digest == digest and existing.stream_type == stream_type:
            return self._replayed(existing)
        if existing.stream_type != stream_type:
            raise StreamAlreadyExists(stream_id, None)
        if existing.event_ids & {e.event_id for e in events}:
            raise EventIdConflict(1)
        raise StreamAlreadyExists(stream_id, self._newest_or_raise(stream_type, stream_id).last_revision)

    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        events: Sequence[NewEvent],
        caller: Caller,
    ) -> AppendResult:
        if expected == ANY_REVISION:
            return self._append_any(stream_type, stream_id, events, caller)
        newest = self._newest_or_raise(stream_type, stream_id)
        digest = content_digest(events)
        if expected > newest.last_revision:
            raise WrongExpectedRevision(expected, newest.last_revision)
        if expected < newest.last_revision:
            # Either a retry of an append that already happened, or a stale writer.
            earlier = self._get_commit(stream_id, expected + 1)
            return self._resolve_collision(stream_type, stream_id, expected, earlier, digest, events=events)
        commit = self._commit_item(stream_type, stream_id, expected + 1, events, caller=caller, after=newest)
        existing = self._put_commit(commit)
        if existing is None:
            return self._written(commit)
        return self._resolve_collision(stream_type, stream_id, expected, existing, digest, events=events)

    def _append_any(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult:
        """Append after whatever is newest. There is no expectation to get wrong, so a lost race is
        retried, after a jittered exponential back-off (so racing writers spread out instead of colliding
        again), until the budget is spent. A retry of this very request is recognised while it is among
        the newest commits when this one starts; every commit that lands while it retries is checked too
        (read in order from the one that won the race), so a retry running beside it cannot duplicate
        its events however busy the stream is."""
        digest = content_digest(events)
        ids = {e.event_id for e in events}
        deadline = time.monotonic() + self._any_budget
        backoff, attempt = ANY_BACKOFF_FIRST_SECONDS, 0
        unseen = self._recent_or_raise(stream_type, stream_id)[::-1]  # oldest first
        while True:
            attempt += 1
            for commit in unseen:
                if commit.digest == digest:
                    return self._replayed(commit)
                if commit.event_ids & ids:
                    raise EventIdConflict(commit.first_revision)
            newest = unseen[-1]
            item = self._commit_item(
                stream_type, stream_id, newest.last_revision + 1, events, caller=caller, after=newest
            )
            winner = self._put_commit(item)
            if winner is None:
                return self._written(item, attempts=attempt)
            # "Full jitter": a uniform pause up to the (doubling, capped) back-off.
            pause = self._jitter.uniform(0, backoff)
            if time.monotonic() + pause >= deadline:
                raise ServiceUnavailable(
                    f"the stream is too busy: appends kept losing races for {self._any_budget:g} s; "
                    "nothing was written; retry the request"
                )
            time.sleep(pause)
            backoff = min(2 * backoff, ANY_BACKOFF_MAX_SECONDS)
            unseen = [winner, *self._commits_after(stream_id, winner.last_revision)]

    def _commits_after(self, stream_id: str, revision: int) -> list[Commit]:
        """Every commit after `revision`, oldest first, consistently read."""
        commits: list[Commit] = []
        more = True
        while more:
            page, more = self._commits(
                stream_id, revision + 1, MAX_REVISION, newest_first=False, limit=ANY_RETRY_HORIZON
            )
            commits += page
            revision = page[-1].last_revision if page else revision
        return commits

    def _recent_or_raise(self, stream_type: str, stream_id: str) -> list[Commit]:
        commits, _ = self._commits(stream_id, 1, MAX_REVISION, newest_first=True, limit=ANY_RETRY_HORIZON)
        if not commits or commits[0].stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        return commits

    def _resolve_collision(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        existing: Commit | None,
        digest: str,
        *,
        events: Sequence[NewEvent],
    ) -> AppendResult:
        if existing is not None and existing.stream_type == stream_type:
            if existing.digest == digest:
                return self._replayed(existing)
            if existing.event_ids & {e.event_id for e in events}:
                raise EventIdConflict(existing.first_revision)
        raise WrongExpectedRevision(expected, self._newest_or_raise(stream_type, stream_id).last_revision)

    def _commit_item(
        self,
        stream_type: str,
        stream_id: str,
        first_revision: int,
        events: Sequence[NewEvent],
        *,
        caller: Caller,
        after: Commit | None,
    ) -> Item:
        now = self._clock()
        if after is not None:
            # committedAt is monotonic per stream even if Lambda clocks disagree by a little.
            now = max(now, timefmt.parse(after.committed_at) + timedelta(microseconds=1))
        recorded_by = {
            key: value
            for key, value in (("principal", caller.principal), ("requestId", caller.request_id))
            if value is not None
        }
        entries: list[AttributeValueTypeDef] = [
            {
                "M": {
                    "id": {"S": e.event_id},
                    "type": {"S": e.event_type},
                    "data": {"S": _json_text(e.payload)},
                    "meta": {"S": _json_text({**e.metadata, **recorded_by})},
                }
            }
            for e in events
        ]
        item: Item = {
            self._layout.hash_key: {"S": stream_id},
            self._layout.range_key: {"N": str(first_revision)},
            "streamType": {"S": stream_type},
            "lastRevision": {"N": str(first_revision + len(events) - 1)},
            "committedAt": {"S": timefmt.format_instant(now)},
            **self._listing_entry(stream_type, stream_id, first_revision, now),
            "digest": {"S": content_digest(events)},
            # Tells this write from an earlier request's when the SDK's retry finds the key taken.
            "writeId": {"S": secrets.token_hex(8)},
            "events": {"L": entries},
        }
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise PayloadTooLarge(
                f"the events take {size} bytes once stored; one append holds at most {MAX_ITEM_BYTES} bytes"
            )
        return item

    def _listing_entry(self, stream_type: str, stream_id: str, revision: int, at: datetime) -> Item:
        """The attributes that put an item in the listing index: its shard and its unique position."""
        digest = hashlib.sha256(stream_id.encode()).digest()
        shard = int.from_bytes(digest[:4], "big") % self._layout.listing_shards
        return {
            self._layout.listing_hash_key: {"S": f"{stream_type}#{shard}"},
            # Time first (fixed width), then the item's key: ordered by time, unique, so pages never tie.
            self._layout.listing_range_key: {"S": f"{timefmt.format_instant(at)}|{stream_id}|{revision}"},
        }

    def _put_commit(self, item: Item) -> Commit | None:
        """Write a commit unless its key exists; return the existing commit when it does."""
        started = time.monotonic()
        try:
            with _dynamodb_errors():
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#rev)",
                    ExpressionAttributeNames={"#rev": self._layout.range_key},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            # Emulators that do not return ALL_OLD: read the winner instead.
            old: Any = exc.response.get("Item") or self._get_item(
                item["streamId"]["S"], int(item["revision"]["N"])
            )
            if old is None or old.get("writeId") != item["writeId"]:
                return decode_commit(old) if old else None
            # This very write, found by the SDK's retry after its first answer was lost: it is written
            # (not a replay), and it may have landed late.
        self._mark_if_slow(decode_commit(item), started)
        return None

    def _replayed(self, commit: Commit) -> AppendResult:
        """A retry of an append that was written: the original result. When the first attempt ended in
        an error after all (a 503 though written), its commit may have landed late and unmarked; mark it
        while such a retry is plausible (a retry days later must not relist the stream)."""
        if self._late_write is not None:
            age = (self._clock() - timefmt.parse(commit.committed_at)).total_seconds()
            if self._late_write < age <= REPLAY_MARK_HORIZON_SECONDS:
                self._mark_quietly(commit)
        return AppendResult(commit.state(), replayed=True, first_revision=commit.first_revision)

    def _mark_if_slow(self, commit: Commit, started: float) -> None:
        """A commit is stamped just before its PutItem; one that took longer than half the settle window to
        land may have become visible after a listing cursor passed its stamp. The commit is durable, so a
        failure to mark it is logged, not raised (notify_stream marks such commits too)."""
        if self._late_write is not None and time.monotonic() - started > self._late_write:
            self._mark_quietly(commit)

    def _mark_quietly(self, commit: Commit) -> None:
        try:
            self.mark_for_listing(commit)
        except (ServiceUnavailable, ClientError):
            log.warning("could not mark a late commit for listing", exc_info=True)

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        """Mark the commit's stream for listing if it was written (became visible) more than half the
        settle window after its stamp; notify_stream asks this with the record's creation time."""
        if self._late_write is None:
            return False
        delay = (written_at - timefmt.parse(commit.committed_at)).total_seconds()
        return delay > self._late_write and self.mark_for_listing(commit)

    def mark_for_listing(self, commit: Commit) -> bool:
        """Give the commit's stream a fresh listing entry, as updated now to the commit's last revision.

        The marker item (revision -1, one per stream) moves forward only: to a later revision, or to a
        later (or equal) stamp at the same one. A marker write that is itself slow is stamped again.
        Returns whether a marker was written (False: a newer one was there).
        """
        stamp_floor = timefmt.parse(commit.committed_at) + timedelta(microseconds=1)
        for _ in range(MARKER_ATTEMPTS):
            started = time.monotonic()
            stamp = max(self._clock(), stamp_floor)
            try:
                with _dynamodb_errors():
                    self._db.put_item(
                        TableName=self._table,
                        Item={
                            self._layout.hash_key: {"S": commit.stream_id},
                            self._layout.range_key: {"N": str(LISTING_MARKER_REVISION)},
                            "streamType": {"S": commit.stream_type},
                            "lastRevision": {"N": str(commit.last_revision)},
                            "committedAt": {"S": timefmt.format_instant(stamp)},
                            **self._listing_entry(
                                commit.stream_type, commit.stream_id, LISTING_MARKER_REVISION, stamp
                            ),
                        },
                        ConditionExpression=(
                            "attribute_not_exists(lastRevision) OR lastRevision < :last"
                            # <=: the SDK's retry of this very write (its answer lost) succeeds too.
                            " OR (lastRevision = :last AND committedAt <= :stamp)"
                        ),
                        ExpressionAttributeValues={
                            ":last": {"N": str(commit.last_revision)},
                            ":stamp": {"S": timefmt.format_instant(stamp)},
                        },
                    )
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
                return False
            if self._late_write is None or time.monotonic() - started <= self._late_write:
                return True
            stamp_floor = stamp + timedelta(microseconds=1)
        return True

    @staticmethod
    def _written(item: Item, attempts: int = 1) -> AppendResult:
        commit = decode_commit(item)
        return AppendResult(
            commit.state(), replayed=False, first_revision=commit.first_revision, attempts=attempts
        )

    # Reads --------------------------------------------------------------------------------------

    def _query(self, request: QueryInputTypeDef) -> QueryOutputTypeDef:
        with _dynamodb_errors():
            return self._db.query(**request)

    def _commits(
        self, stream_id: str, low: int, high: int, *, newest_first: bool, limit: int
    ) -> tuple[list[Commit], bool]:
        """Commits whose first revision is in [low, high], consistently read."""
        response = self._query(
            {
                "TableName": self._table,
                "KeyConditionExpression": "#id = :id AND #rev BETWEEN :low AND :high",
                "ExpressionAttributeNames": {"#id": self._layout.hash_key, "#rev": self._layout.range_key},
                "ExpressionAttributeValues": {
                    ":id": {"S": stream_id},
                    ":low": {"N": str(low)},
                    ":high": {"N": str(high)},
                },
                "ScanIndexForward": not newest_first,
                "ConsistentRead": True,
                "Limit": limit,
            }
        )
        return [decode_commit(item) for item in response.get("Items", [])], "LastEvaluatedKey" in response

    def _newest(self, stream_id: str) -> Commit | None:
        commits, _ = self._commits(stream_id, 1, MAX_REVISION, newest_first=True, limit=1)
        return commits[0] if commits else None

    def _newest_or_raise(self, stream_type: str, stream_id: str) -> Commit:
        newest = self._newest(stream_id)
        if newest is None or newest.stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        return newest

    def _get_commit(self, stream_id: str, first_revision: int) -> Commit | None:
        item = self._get_item(stream_id, first_revision)
        return decode_commit(item) if item else None

    def _get_item(self, stream_id: str, first_revision: int) -> Item | None:
        with _dynamodb_errors():
            response = self._db.get_item(
                TableName=self._table,
                Key={
                    self._layout.hash_key: {"S": stream_id},
                    self._layout.range_key: {"N": str(first_revision)},
                },
                ConsistentRead=True,
            )
        return response.get("Item")

    def describe(self, stream_type: str, stream_id: str) -> StreamState:
        return self._newest_or_raise(stream_type, stream_id).state()

    def read(self, stream_type: str, stream_id: str, after_revision: int, limit: int) -> EventPage:
        limit = min(limit, MAX_QUERY_PAGE_EVENTS)
        # Commits holding the next `limit` revisions start at most `limit` revisions later; bounding the
        # key range keeps the Query (and its read units) to one page whatever the stream's length.
        first, last_wanted = after_revision + 1, after_revision + limit
        commits, more = self._commits(stream_id, first, last_wanted, newest_first=False, limit=limit)
        if not commits or commits[0].first_revision != first:
            # after_revision is inside a commit (a page cut by `limit`), past the end, or the stream is
            # unknown: the commit holding after_revision tells which.
            if after_revision == 0:
                raise StreamNotFound(stream_type, stream_id)
            holding, _ = self._commits(stream_id, 1, after_revision, newest_first=True, limit=1)
            if not holding:
                raise StreamNotFound(stream_type, stream_id)
            commits = holding + commits
        if commits[0].stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        events = [e for c in commits for e in c.events if e.revision > after_revision]
        # A full page may be followed by more; a short one means the stream ends inside the key range
        # (commits cover revisions without gaps).
        more = more or len(events) >= limit
        events = events[:limit]
        last = events[-1].revision if events else after_revision
        return EventPage(tuple(events), has_more=more, last_evaluated_revision=last)

    # Listing ------------------------------------------------------------------------------------

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage:
        """Streams of a type by the time of their newest commit (docs/design.md, "Listing").

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
        upper = timefmt.format_instant(self._clock() - self._settle) + "~"
        cursor = lower
        if page_key is not None:
            cursor, earlier_upper = self._decode_page_key(page_key, stream_type, lower)
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
        streams = tuple(
            StreamState(
                stream_id=item[self._layout.hash_key]["S"],
                stream_type=stream_type,
                revision=int(item["lastRevision"]["N"]),
                updated_at=item[self._layout.listing_range_key]["S"].split("|", 1)[0],
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
            for shard in range(self._layout.listing_shards)
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
            "TableName": self._table,
            "IndexName": self._layout.listing_index,
            "KeyConditionExpression": "#shard = :shard AND #position >= :start",
            "ExpressionAttributeNames": {
                "#shard": self._layout.listing_hash_key,
                "#position": self._layout.listing_range_key,
            },
            "ExpressionAttributeValues": {":shard": {"S": shard}, ":start": {"S": start}},
            "Limit": count + 1,  # the entry at `start` itself comes back first
        }
        response = self._query(request)
        items = [item for item in response.get("Items", []) if _position(item) != start]
        while not items and "LastEvaluatedKey" in response:  # a page of only `start` (a 1 MB page cut)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            response = self._query(request)
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
        successors = {
            (item[self._layout.hash_key]["S"], int(item["lastRevision"]["N"]) + 1) for item in entries
        }
        keys: list[Item] = [
            {self._layout.hash_key: {"S": stream_id}, self._layout.range_key: {"N": str(revision)}}
            for stream_id, revision in sorted(successors)
        ]
        found: dict[tuple[str, int], str] = {}
        for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
            found |= self._existing_positions(keys[start : start + MAX_BATCH_GET_KEYS])
        current = []
        for item in entries:
            successor = found.get((item[self._layout.hash_key]["S"], int(item["lastRevision"]["N"]) + 1))
            if successor is None or (successor > upper and _position(item) <= upper):
                current.append(item)
        return current

    def _existing_positions(self, keys: list[Item]) -> dict[tuple[str, int], str]:
        """The listing positions of those keys that exist, by key (eventually consistent: a miss only
        lists a stream once more)."""
        found: dict[tuple[str, int], str] = {}
        pending: Any = keys
        for attempt in range(BATCH_GET_ATTEMPTS):
            if not pending:
                break
            if attempt:
                time.sleep(0.02 * 2**attempt)
            with _dynamodb_errors():
                response = self._db.batch_get_item(
                    RequestItems={
                        self._table: {
                            "Keys": pending,
                            "ProjectionExpression": "#id, #rev, #position",
                            "ExpressionAttributeNames": {
                                "#id": self._layout.hash_key,
                                "#rev": self._layout.range_key,
                                "#position": self._layout.listing_range_key,
                            },
                        }
                    }
                )
            answered: Any = response.get("Responses", {}).get(self._table, [])
            found |= {
                (item[self._layout.hash_key]["S"], int(item[self._layout.range_key]["N"])): _position(item)
                for item in answered
            }
            unprocessed: Any = response.get("UnprocessedKeys", {})
            pending = unprocessed.get(self._table, {}).get("Keys", [])
        if pending:
            log.warning(
                "BatchGetItem left keys unprocessed; listing their streams", extra={"keys": len(pending)}
            )
        return found

    def _decode_page_key(self, token: str, stream_type: str, lower: str) -> tuple[str, str]:
        """The position the previous page ended at and the settle horizon it used."""
        assert self._page_keys is not None
        name = "/query/stream-next-page-key"
        try:
            content = self._page_keys.decode(token)
        except InvalidPageKey as exc:
            raise InvalidRequest.single(name, str(exc)) from exc
        if content.get("type") != stream_type:
            raise InvalidRequest.single(name, "the page key belongs to a listing of another stream type")
        if content.get("after") != lower:
            raise InvalidRequest.single(name, "the page key belongs to a listing with another updated-after")
        position, upper = content.get("position"), content.get("upper")
        if (
            content.get("v") != PAGE_KEY_VERSION
            or not isinstance(position, str)
            or not isinstance(upper, str)
        ):
            raise InvalidRequest.single(
                name, "the page key comes from an earlier version of the store; start the listing again"
            )
        return position, upper

    def commits_between(self, stream_id: str, first_revision: int, last_revision: int) -> list[Commit]:
        """The commits holding revisions first..last (notify_stream fills gaps in its input with them)."""
        commits, _ = self._commits(
            stream_id, first_revision, last_revision, newest_first=False, limit=MAX_QUERY_PAGE_EVENTS
        )
        return commits

    def notified_revision(self, stream_id: str) -> int:
        """The last revision notify_stream published and recorded in the stream's summary (0: none yet)."""
        with _dynamodb_errors():
            response = self._db.get_item(
                TableName=self._table,
                Key={
                    self._layout.hash_key: {"S": stream_id},
                    self._layout.range_key: {"N": str(SUMMARY_REVISION)},
                },
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
                with _dynamodb_errors():
                    self._update_summary(stream_id, stream_type, expected_previous, last_revision)
            except ClientError as exc:
                if not _condition_failed(exc):
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
        self._db.update_item(
            TableName=self._table,
            Key={
                self._layout.hash_key: {"S": stream_id},
                self._layout.range_key: {"N": str(SUMMARY_REVISION)},
            },
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


@contextlib.contextmanager
def _dynamodb_errors() -> Iterator[None]:
    """DynamoDB failures that remain after botocore's retries become ServiceUnavailable (a 503); other
    ClientErrors, such as a failed condition, pass through for the caller to read."""
    retry_hint = "retry the same request: an append that was written after all is answered as a replay"
    try:
        yield
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in _TRANSIENT_CODES:
            raise ServiceUnavailable(f"DynamoDB is unavailable or throttling ({code}); {retry_hint}") from exc
        if code == "ValidationException" and "backfilling" in exc.response["Error"].get("Message", ""):
            # A listing index being built (after a layout change) answers this until it is active.
            raise ServiceUnavailable("the listing index is being built; retry later") from exc
        raise
    except BotoCoreError as exc:
        raise ServiceUnavailable(
            f"DynamoDB could not be reached ({type(exc).__name__}); {retry_hint}"
        ) from exc


def _condition_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
