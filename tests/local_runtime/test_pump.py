"""The stream pump's event source mapping semantics, driven poll by poll against an in-memory stream."""

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from local_runtime.aws import Clients
from local_runtime.lambdas import LambdaContext, LambdaFunction
from local_runtime.pump import StreamPump
from local_runtime.settings import PumpSettings

STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
FIRST_SEQUENCE = 100
CREATED = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _record(
    index: int, *, revision: int, event_name: str = "INSERT", created: dt.datetime = CREATED
) -> dict[str, Any]:
    keys = {"streamId": {"S": f"s{index}"}, "revision": {"N": str(revision)}}
    return {
        "eventID": f"id{index}",
        "eventName": event_name,
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": keys,
            "NewImage": keys | {"digest": {"S": "d"}, "sealed": {"B": b"\x01\x02"}},
            "SequenceNumber": str(FIRST_SEQUENCE + index),
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        },
    }


class _Exceptions:
    class ExpiredIteratorException(Exception):
        pass


@dataclass
class FakeStreams:
    """The dynamodbstreams calls the pump makes, over a list of boto3-shaped records."""

    records: list[dict[str, Any]]
    exceptions: type[_Exceptions] = _Exceptions

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["ShardIteratorType"] == "TRIM_HORIZON":
            return {"ShardIterator": "0"}
        if kwargs["ShardIteratorType"] == "LATEST":
            return {"ShardIterator": str(len(self.records))}
        return {"ShardIterator": str(int(kwargs["SequenceNumber"]) - FIRST_SEQUENCE + 1)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803 - boto3's names
        start = int(ShardIterator)
        batch = self.records[start : start + Limit]
        return {"Records": batch, "NextShardIterator": str(start + len(batch))}


@dataclass
class FakeQueue:
    messages: list[dict[str, Any]] = field(default_factory=list)

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803 - boto3's names
        assert QueueUrl == "queue"
        self.messages.append(json.loads(MessageBody))


@dataclass
class FakeFunction:
    """notify_stream's stand-in: `behaviour` decides each invocation's result (or raises)."""

    behaviour: Callable[[list[dict[str, Any]]], Any]
    batches: list[list[str]] = field(default_factory=list)
    name: str = "notify_stream"
    arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:notify_stream"

    def new_context(self) -> LambdaContext:
        return LambdaContext(self.name, self.arn, 256, 60.0)

    def invoke(self, event: dict[str, Any], _context: LambdaContext) -> Any:
        self.batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return self.behaviour(event["Records"])


def _pump(
    records: list[dict[str, Any]],
    function: FakeFunction,
    queue: FakeQueue,
    *,
    skip_existing_records: bool = False,
    **settings: Any,
) -> StreamPump:
    clients = cast("Clients", type("C", (), {"streams": FakeStreams(records), "sqs": queue})())
    return StreamPump(
        clients=clients,
        stream_arn=STREAM_ARN,
        function=cast("LambdaFunction", function),
        on_failure_queue_url="queue",
        region="eu-west-1",
        settings=PumpSettings(retry_backoff_seconds=0, **settings),
        skip_existing_records=skip_existing_records,
    )


def _drain(pump: StreamPump) -> None:
    for _ in range(100):
        if not pump._poll_once():
            return
    raise AssertionError("the pump never caught up")


def _seq(*indexes: int) -> list[str]:
    return [str(FIRST_SEQUENCE + i) for i in indexes]


def test_only_new_commits_reach_the_function_in_lambdas_record_shape() -> None:
    records = [
        _record(0, revision=1),
        _record(1, revision=0),  # a summary item
        _record(2, revision=0, event_name="MODIFY"),
        _record(3, revision=2, event_name="MODIFY"),
        _record(4, revision=2),
        _record(5, revision=3),
    ]
    records[5]["dynamodb"]["NewImage"] = {"refs": {"S": "[]"}}  # a feed item: no digest
    seen: list[dict[str, Any]] = []
    function = FakeFunction(seen.extend)
    pump = _pump(records, function, FakeQueue())
    _drain(pump)
    assert function.batches == [_seq(0, 4)]
    first = seen[0]
    assert first["eventSourceARN"] == STREAM_ARN
    assert (first["eventSource"], first["awsRegion"], first["eventName"]) == (
        "aws:dynamodb",
        "eu-west-1",
        "INSERT",
    )
    assert first["dynamodb"]["ApproximateCreationDateTime"] == CREATED.timestamp()
    assert first["dynamodb"]["NewImage"]["sealed"] == {"B": "AQI="}
    json.dumps(seen)  # what Lambda hands over is JSON
    assert pump.positions() == {"shard-1": str(FIRST_SEQUENCE + 5)}


def test_batches_respect_the_batch_size() -> None:
    function = FakeFunction(lambda _batch: None)
    _drain(_pump([_record(i, revision=1) for i in range(250)], function, FakeQueue(), batch_size=100))
    assert [len(b) for b in function.batches] == [100, 100, 50]


def test_reported_item_failures_are_retried_from_the_lowest_sequence_number() -> None:
    calls = 0

    def fail_3_and_5_once(batch: list[dict[str, Any]]) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": s} for s in _seq(5, 3)]}

    function = FakeFunction(fail_3_and_5_once)
    queue = FakeQueue()
    _drain(_pump([_record(i, revision=1) for i in range(7)], function, queue))
    assert function.batches == [_seq(*range(7)), _seq(3, 4, 5, 6)]
    assert queue.messages == []


def test_function_errors_bisect_until_the_poison_record_goes_to_the_on_failure_queue() -> None:
    poison = str(FIRST_SEQUENCE + 5)

    def crash_on_poison(batch: list[dict[str, Any]]) -> Any:
        if any(r["dynamodb"]["SequenceNumber"] == poison for r in batch):
            raise RuntimeError("poison")

    function = FakeFunction(crash_on_poison)
    queue = FakeQueue()
    _drain(_pump([_record(i, revision=1) for i in range(8)], function, queue, maximum_retry_attempts=1))
    delivered = [s for batch in function.batches for s in batch if not any(x == poison for x in batch)]
    assert sorted(set(delivered)) == _seq(0, 1, 2, 3, 4, 6, 7)
    (message,) = queue.messages
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["requestContext"]["functionArn"] == FakeFunction(crash_on_poison).arn
    assert message["responseContext"]["functionError"] == "Unhandled"
    info = message["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (poison, poison, 1)
    assert (info["shardId"], info["streamArn"]) == ("shard-1", STREAM_ARN)
    assert info["approximateArrivalOfFirstRecord"] == CREATED.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert message["version"] == "1.0"


def test_an_invalid_failure_report_fails_the_whole_batch_until_retries_run_out() -> None:
    function = FakeFunction(lambda _batch: {"batchItemFailures": [{"itemIdentifier": ""}]})
    queue = FakeQueue()
    pump = _pump([_record(i, revision=1) for i in range(3)], function, queue, maximum_retry_attempts=2)
    _drain(pump)
    assert function.batches == [_seq(0, 1, 2)] * 3
    (message,) = queue.messages
    assert message["DDBStreamBatchInfo"]["batchSize"] == 3
    assert "functionError" not in message["responseContext"]
    assert pump.positions() == {"shard-1": str(FIRST_SEQUENCE + 2)}  # the pump moved on


def test_the_batching_window_holds_a_small_batch_back() -> None:
    function = FakeFunction(lambda _batch: None)
    pump = _pump([_record(0, revision=1)], function, FakeQueue(), batching_window_seconds=60)
    pump._poll_once()
    assert function.batches == []
    pump._draining.set()  # stopping delivers what is buffered without waiting for the window
    _drain(pump)
    assert function.batches == [_seq(0)]


def test_records_older_than_the_maximum_age_are_not_retried() -> None:
    function = FakeFunction(lambda _batch: {"batchItemFailures": [{"itemIdentifier": str(FIRST_SEQUENCE)}]})
    queue = FakeQueue()
    old = CREATED - dt.timedelta(hours=2)
    _drain(_pump([_record(0, revision=1, created=old)], function, queue, maximum_record_age_seconds=3600))
    assert len(function.batches) == 1
    (message,) = queue.messages
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"


def test_stopping_during_retries_keeps_the_undelivered_records_and_their_checkpoint() -> None:
    def always_fail(_batch: list[dict[str, Any]]) -> Any:
        pump._halt.set()  # the runtime stops while this batch is being retried
        raise RuntimeError("boom")

    function = FakeFunction(always_fail)
    queue = FakeQueue()
    pump = _pump([_record(i, revision=1) for i in range(3)], function, queue)
    pump._poll_once()
    (shard,) = pump._shards.values()
    assert queue.messages == []
    assert [r["dynamodb"]["SequenceNumber"] for r in shard.buffer] == _seq(0, 1, 2)
    assert shard.checkpoint != _seq(2)[0]


def test_a_restored_store_notifies_every_commit_written_after_start_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a restore the pump skips the records already in the stream (notified before the restart), but
    never a commit written once `start` has returned, however late its thread first polls."""
    records = [_record(0, revision=1)]
    first_poll = threading.Event()
    polling = StreamPump._run

    def late_run(self: StreamPump) -> None:
        first_poll.wait()
        polling(self)

    monkeypatch.setattr(StreamPump, "_run", late_run)
    function = FakeFunction(lambda _: None)
    pump = _pump(records, function, FakeQueue(), skip_existing_records=True, batch_size=10)
    pump.start()
    records.append(_record(1, revision=2))  # the API serves writes as soon as the pump has started
    first_poll.set()
    pump.stop()
    assert pump.caught_up
    assert function.batches == [_seq(1)]
