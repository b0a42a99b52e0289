"""Writes the lifecycle items physical removal reads, as the lifecycle API writes them (LIFECYCLE_DESIGN:
control item at -2, marker in the head slot, summary at 0), so removal is tested on its own."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventstore.appends import NewEvent
from eventstore.commits import encode_commit
from eventstore.domain import Caller
from eventstore.dynamodb.markers import listing_entry
from eventstore.retention import sweep_shard
from eventstore.table import layout
from eventstore.timefmt import format_instant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CALLER = Caller("arn:aws:iam::123456789012:user/tester", "request-1")


def put_commit(
    client: DynamoDBClient,
    table: str,
    stream_id: str,
    first_revision: int,
    count: int,
    *,
    at: datetime,
    stream_type: str = "order",
    sealed: bytes | None = None,
) -> None:
    """A commit as the store writes it (listing entry included); `sealed`: every event's payload sealed."""
    events = [
        NewEvent(
            str(uuid.uuid4()),
            "Happened",
            {"n": first_revision + i},
            data_subject="person-1" if sealed else None,
        )
        for i in range(count)
    ]
    item = encode_commit(
        stream_type,
        stream_id,
        first_revision,
        events,
        committed_at=format_instant(at),
        digest=f"digest-{first_revision}",
        caller=CALLER,
        sealed=[sealed] * count if sealed else (),
    )
    client.put_item(
        TableName=table,
        Item={**item, **listing_entry(layout(), stream_type, stream_id, first_revision, at)},
    )


def put_summary(client: DynamoDBClient, table: str, stream_id: str, through: int) -> None:
    """notify_stream's cursor: everything through `through` notified and fed."""
    client.put_item(
        TableName=table,
        Item={
            "streamId": {"S": stream_id},
            "revision": {"N": "0"},
            "streamType": {"S": "order"},
            "lastRevision": {"N": str(through)},
            "fedRevision": {"N": str(through)},
        },
    )


def put_control(
    client: DynamoDBClient, table: str, stream_id: str, *, due: bool = True, **attributes: Any
) -> None:
    """The control item (-2): numbers as N, text as S; `due` sets sweepShard as the lifecycle API does."""
    item: dict[str, Any] = {
        "streamId": {"S": stream_id},
        "revision": {"N": "-2"},
        "streamType": {"S": "order"},
    }
    for name, value in attributes.items():
        if value is not None:
            item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    if due:
        item["sweepShard"] = {"S": sweep_shard(stream_id)}
    client.put_item(TableName=table, Item=item)


def put_marker(
    client: DynamoDBClient, table: str, stream_id: str, kind: str, last_revision: int, *, at: datetime
) -> None:
    """A lifecycle marker in the head slot (`deleted` or `tombstone`)."""
    client.put_item(
        TableName=table,
        Item={
            "streamId": {"S": stream_id},
            "revision": {"N": str(last_revision + 1)},
            "kind": {"S": kind},
            "streamType": {"S": "order"},
            "lastRevision": {"N": str(last_revision)},
            "deletedAt": {"S": format_instant(at)},
            "writeId": {"S": uuid.uuid4().hex},
        },
    )


def revisions(client: DynamoDBClient, table: str, stream_id: str) -> list[int]:
    """Every sort key of the stream's partition still stored."""
    response = client.query(
        TableName=table,
        KeyConditionExpression="streamId = :id",
        ExpressionAttributeValues={":id": {"S": stream_id}},
        ConsistentRead=True,
    )
    return [int(item["revision"]["N"]) for item in response["Items"]]
