"""Test doubles for notify_stream around moto: the table's stream as Lambda sees it, SQS subscribers, a
fault-injecting SNS publisher and Lambda's checkpoint-and-retry behaviour for stream event sources."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import (
        PublishBatchInputTypeDef,
        PublishBatchRequestEntryTypeDef,
        PublishBatchResponseTypeDef,
    )
    from mypy_boto3_sqs import SQSClient

    from eventstore.commits import Commit
    from eventstore.dynamodb.store import DynamoEventStore
    from eventstore.feeds import FeedItem
    from eventstore.feedwriter import StreamCursors
    from eventstore.lifecycle import LifecycleMarker

# botocore addresses DynamoDB Streams by account-id endpoints, which moto does not route.
STREAMS_CONFIG = Config(account_id_endpoint_mode="disabled")

type LambdaEvent = dict[str, Any]
type Handler = Callable[[LambdaEvent], dict[str, list[dict[str, str]]]]


class StoreCursor:
    """The store as notify_stream's cursor; tests override a method to inject a failure or count calls."""

    def __init__(self, store: DynamoEventStore) -> None:
        self.store = store

    def head(self, feed: str) -> FeedItem | None:
        return self.store.head(feed)

    def put(self, item: FeedItem) -> bool:
        return self.store.put(item)

    def block(self, first: int, last: int) -> list[FeedItem]:
        return self.store.block(first, last)

    def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
        return self.store.cursors(stream_ids)

    def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
        self.store.advance_fed(stream_id, stream_type, revision)

    def move_cursors(
        self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
    ) -> bool:
        return self.store.move_cursors(stream_id, stream_type, fed, notified, read)

    def commits_between(self, stream_id: str, first: int, last: int) -> list[Commit]:
        return self.store.commits_between(stream_id, first, last)

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        return self.store.mark_if_late(commit, written_at)

    def complete_deletion(self, marker: LifecycleMarker) -> None:
        self.store.complete_deletion(marker)


class StreamTap:
    """Reads the table's stream from moto (from TRIM_HORIZON on) and returns each record once, in Lambda's
    shape. It keeps each shard's iterator, so a read returns only what was written since the last one."""

    def __init__(self, streams: DynamoDBStreamsClient, db: DynamoDBClient, table: str, region: str) -> None:
        self._streams = streams
        self._region = region
        self._arn = db.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}

    def new_records(self) -> list[dict[str, Any]]:
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        records: list[dict[str, Any]] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator: str | None = self._iterators.get(shard_id) or self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            ).get("ShardIterator")
            while iterator:
                page = self._streams.get_records(ShardIterator=iterator)
                records.extend(self._lambda_record(r) for r in page["Records"])
                if "NextShardIterator" in page:
                    self._iterators[shard_id] = page["NextShardIterator"]
                iterator = page.get("NextShardIterator") if page["Records"] else None
        return sorted(records, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))

    def _lambda_record(self, record: Any) -> dict[str, Any]:
        change = dict(record["dynamodb"])
        # GetRecords returns a timestamp; Lambda's event carries epoch seconds.
        change["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"].timestamp())
        lambda_record: dict[str, Any] = {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self._region,
            "dynamodb": change,
            "eventSourceARN": self._arn,
        }
        if "userIdentity" in record:
            identity = record["userIdentity"]
            lambda_record["userIdentity"] = {"type": identity["Type"], "principalId": identity["PrincipalId"]}
        return lambda_record


@dataclass
class EventSourceMapping:
    """Lambda's poller for one shard with ReportBatchItemFailures: on failures it checkpoints at the lowest
    reported sequence number and hands that record and all after it to the next invocation."""

    tap: StreamTap
    handler: Handler
    batch_size: int = 100
    pending: list[dict[str, Any]] = field(default_factory=list)
    invocations: int = 0

    def poll(self) -> list[str]:
        """One invocation; returns the reported sequence numbers."""
        self.pending.extend(self.tap.new_records())
        batch, rest = self.pending[: self.batch_size], self.pending[self.batch_size :]
        if not batch:
            return []
        self.invocations += 1
        failures = [f["itemIdentifier"] for f in self.handler({"Records": batch})["batchItemFailures"]]
        if failures:
            checkpoint = min(int(s) for s in failures)
            batch = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= checkpoint]
            self.pending = batch + rest
        else:
            self.pending = rest
        return failures

    def drain(self, max_invocations: int = 100) -> None:
        for _ in range(max_invocations):
            self.poll()
            if not self.pending:
                return
        raise AssertionError(f"records still pending after {max_invocations} invocations")


@dataclass(frozen=True)
class Received:
    """A notification as an SQS subscriber reads it (raw delivery or inside the SNS envelope)."""

    body: dict[str, Any]
    attributes: dict[str, tuple[str, str]]
    """name -> (data type, value)"""

    @property
    def stream_and_revision(self) -> tuple[str, int]:
        return self.body["streamId"], self.body["toRevision"]


@dataclass
class Subscriber:
    sqs: SQSClient
    queue_url: str
    raw: bool
    received: list[Received] = field(default_factory=list)

    def receive(self) -> list[Received]:
        """Everything delivered so far (all of it, in arrival order)."""
        while messages := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in messages:
                self.received.append(self._parse(message))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self.received

    def _parse(self, message: Any) -> Received:
        if self.raw:
            attributes = {
                name: (value["DataType"], value["StringValue"])
                for name, value in message.get("MessageAttributes", {}).items()
            }
            return Received(json.loads(message["Body"]), attributes)
        envelope = json.loads(message["Body"])
        assert envelope["Type"] == "Notification"
        attributes = {
            name: (value["Type"], value["Value"]) for name, value in envelope["MessageAttributes"].items()
        }
        return Received(json.loads(envelope["Message"]), attributes)


def subscribe(
    sns: SNSClient, sqs: SQSClient, topic_arn: str, name: str, *, raw: bool, filter_policy: dict[str, Any]
) -> Subscriber:
    if topic_arn.endswith(".fifo"):
        url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    else:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true" if raw else "false",
            "FilterPolicy": json.dumps(filter_policy),
        },
    )
    return Subscriber(sqs, url, raw)


type EntryPredicate = Callable[[Mapping[str, Any]], bool]


class FlakyPublisher:
    """The real (moto) SNS client's PublishBatch, except entries chosen by `reject` come back in `Failed`
    and calls holding an entry chosen by `throw` raise, each for its first `times` occurrences."""

    def __init__(self, sns: SNSClient) -> None:
        self._sns = sns
        self.calls: list[list[PublishBatchRequestEntryTypeDef]] = []
        self._rules: list[tuple[str, EntryPredicate, list[int]]] = []

    def reject(self, predicate: EntryPredicate, times: int = 1) -> None:
        self._rules.append(("reject", predicate, [times]))

    def throw(self, predicate: EntryPredicate, times: int = 1) -> None:
        self._rules.append(("throw", predicate, [times]))

    def _fires(self, kind: str, entry: Mapping[str, Any]) -> bool:
        for rule_kind, predicate, left in self._rules:
            if rule_kind == kind and left[0] > 0 and predicate(entry):
                left[0] -= 1
                return True
        return False

    def publish_batch(self, **kwargs: Unpack[PublishBatchInputTypeDef]) -> PublishBatchResponseTypeDef:
        entries = list(kwargs["PublishBatchRequestEntries"])
        self.calls.append(entries)
        if any(self._fires("throw", e) for e in entries):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PublishBatch")
        rejected = [e for e in entries if self._fires("reject", e)]
        passed = [e for e in entries if e not in rejected]
        response: PublishBatchResponseTypeDef = (
            self._sns.publish_batch(TopicArn=kwargs["TopicArn"], PublishBatchRequestEntries=passed)
            if passed
            else {"Successful": [], "Failed": [], "ResponseMetadata": {}}  # type: ignore[typeddict-item]
        )
        response["Failed"] = [
            {"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False}
            for e in rejected
        ]
        return response


def body_of(entry: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(entry["Message"])
    return body


def first_occurrences(received: Iterable[Received]) -> dict[str, list[int]]:
    """Per stream, the revisions in the order they were first notified (repeats are at-least-once)."""
    seen: dict[str, list[int]] = {}
    for notification in received:
        stream_id, revision = notification.stream_and_revision
        revisions = seen.setdefault(stream_id, [])
        if revision not in revisions:
            revisions.append(revision)
    return seen


@dataclass(frozen=True)
class Bus:
    """An SNS topic in moto and the SQS side of its subscribers."""

    sns: SNSClient
    sqs: SQSClient
    topic_arn: str

    def subscribe(self, name: str, *, raw: bool, filter_policy: dict[str, Any]) -> Subscriber:
        return subscribe(self.sns, self.sqs, self.topic_arn, name, raw=raw, filter_policy=filter_policy)

    def flaky_publisher(self) -> FlakyPublisher:
        return FlakyPublisher(self.sns)
