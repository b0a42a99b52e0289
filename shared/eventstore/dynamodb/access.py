"""DynamoDB access shared by the store's parts: the table, error translation and consistent commit reads.

Layout and the reasoning behind it: docs/design.md. In short, each append is one immutable "commit" item
keyed by the revision of its first event; a stream's newest commit is one consistent Query away.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from eventstore.commits import Commit, Item, decode_commit
from eventstore.domain import ServiceUnavailable, StreamDeleted, StreamNotFound
from eventstore.lifecycle import LifecycleMarker, decode_marker, is_marker
from eventstore.table import TableLayout, layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef, QueryOutputTypeDef

MAX_REVISION: Final = 2**63 - 1
MAX_BATCH_GET_KEYS: Final = 100
BATCH_GET_ATTEMPTS: Final = 5

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


@contextlib.contextmanager
def dynamodb_errors() -> Iterator[None]:
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


def condition_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


@dataclass(frozen=True, slots=True)
class Settling:
    """The listing's settle window and the clock commits are stamped with."""

    window: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def late_write(self) -> float | None:
        """A commit is stamped just before its PutItem. One that took longer than this to land may be
        visible only after a listing cursor passed its stamp (zero settle: tests; nothing to protect)."""
        return self.window.total_seconds() / 2 if self.window > timedelta(0) else None


@dataclass(frozen=True, slots=True)
class Table:
    """One event table: the client, its name and its layout (table.json)."""

    client: DynamoDBClient
    name: str
    layout: TableLayout = field(default_factory=layout)

    def key(self, stream_id: str, revision: int) -> Item:
        return {self.layout.hash_key: {"S": stream_id}, self.layout.range_key: {"N": str(revision)}}

    def query(self, request: QueryInputTypeDef) -> QueryOutputTypeDef:
        with dynamodb_errors():
            return self.client.query(**request)

    def commits(
        self, stream_id: str, low: int, high: int, *, newest_first: bool, limit: int
    ) -> tuple[list[Commit], bool]:
        """Commits whose first revision is in [low, high], consistently read, and whether more follow (a
        lifecycle marker in the range is left out)."""
        heads, more = self.heads(stream_id, low, high, newest_first=newest_first, limit=limit)
        return [h for h in heads if isinstance(h, Commit)], more

    def heads(
        self, stream_id: str, low: int, high: int, *, newest_first: bool, limit: int
    ) -> tuple[list[Commit | LifecycleMarker], bool]:
        """Commits and the lifecycle marker (only ever the newest item) keyed in [low, high]."""
        response = self.raw_items(stream_id, low, high, newest_first=newest_first, limit=limit)
        return [decode_head(item) for item in response.get("Items", [])], "LastEvaluatedKey" in response

    def raw_items(
        self, stream_id: str, low: int, high: int, *, newest_first: bool, limit: int
    ) -> QueryOutputTypeDef:
        return self.query(
            {
                "TableName": self.name,
                "KeyConditionExpression": "#id = :id AND #rev BETWEEN :low AND :high",
                "ExpressionAttributeNames": {"#id": self.layout.hash_key, "#rev": self.layout.range_key},
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

    def head(self, stream_type: str, stream_id: str) -> Commit | LifecycleMarker:
        """The stream's newest item: its newest commit, or a lifecycle marker after it (StreamNotFound when
        there is none, or it is another type's)."""
        heads, _ = self.heads(stream_id, 1, MAX_REVISION, newest_first=True, limit=1)
        if not heads or heads[0].stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        return heads[0]

    def newest_or_raise(self, stream_type: str, stream_id: str) -> Commit:
        """The newest commit of a live stream (a deleted one is not found; a tombstoned one is gone)."""
        return live(self.head(stream_type, stream_id))

    def batch_get(
        self, keys: Sequence[Item], *, consistent: bool, projection: str | None = None
    ) -> dict[tuple[str, int], Item]:
        """The items at the keys that exist, by (stream id, revision); keys DynamoDB leaves unprocessed are
        asked again, and ServiceUnavailable if some stay unanswered (absent must mean absent)."""
        table = self.name
        found: dict[tuple[str, int], Item] = {}
        for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
            pending: Any = list(keys[start : start + MAX_BATCH_GET_KEYS])
            for attempt in range(BATCH_GET_ATTEMPTS):
                if not pending:
                    break
                if attempt:
                    time.sleep(0.02 * 2**attempt)
                request: Any = {"Keys": pending, "ConsistentRead": consistent}
                if projection is not None:
                    request["ProjectionExpression"] = projection
                    request["ExpressionAttributeNames"] = {
                        "#id": self.layout.hash_key,
                        "#rev": self.layout.range_key,
                    }
                with dynamodb_errors():
                    response = self.client.batch_get_item(RequestItems={table: request})
                answered: Any = response.get("Responses", {}).get(table, [])
                found |= {self.key_of(item): item for item in answered}
                unprocessed: Any = response.get("UnprocessedKeys", {})
                pending = unprocessed.get(table, {}).get("Keys", [])
            if pending:
                raise ServiceUnavailable("DynamoDB left keys of a BatchGetItem unprocessed; retry")
        return found

    def key_of(self, item: Any) -> tuple[str, int]:
        return item[self.layout.hash_key]["S"], int(item[self.layout.range_key]["N"])

    def get_item(self, stream_id: str, revision: int) -> Item | None:
        with dynamodb_errors():
            response = self.client.get_item(
                TableName=self.name, Key=self.key(stream_id, revision), ConsistentRead=True
            )
        return response.get("Item")

    def get_commit(self, stream_id: str, first_revision: int) -> Commit | None:
        item = self.get_item(stream_id, first_revision)
        return decode_commit(item) if item and not is_marker(item) else None

    def get_head(self, stream_id: str, revision: int) -> Commit | LifecycleMarker | None:
        item = self.get_item(stream_id, revision)
        return decode_head(item) if item else None


def decode_head(item: Any) -> Commit | LifecycleMarker:
    return decode_marker(item) if is_marker(item) else decode_commit(item)


def live(head: Commit | LifecycleMarker) -> Commit:
    """The head of a stream that is not deleted; StreamNotFound (soft) or StreamDeleted (tombstone)."""
    if isinstance(head, Commit):
        return head
    if head.mode == "tombstone":
        raise StreamDeleted(head.stream_type, head.stream_id)
    raise StreamNotFound(head.stream_type, head.stream_id)
