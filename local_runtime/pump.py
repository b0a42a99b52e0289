"""The stream pump: Lambda's DynamoDB Streams event source mapping for notify_stream.

It polls the table's stream through the emulator's dynamodbstreams API (no event source mapping is created
in moto: moto would try to run the function in Docker and drain the stream) and applies the mapping's
semantics: the filter (commits and lifecycle markers; not revisions 0, -1 or -2), batch size and batching
window, ReportBatchItemFailures (retry from the lowest failed sequence number), bisect on function error,
maximum retry attempts, and on final failure a record to the on-failure SQS queue, after which it moves on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventstore.table import CONTROL_REVISION, LISTING_MARKER_REVISION, SUMMARY_REVISION, layout
from local_runtime.dynamodb_json import encode_item

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from local_runtime.aws import Clients
    from local_runtime.lambdas import Function
    from local_runtime.settings import PumpSettings

log = logging.getLogger(__name__)

_SHARD_REFRESH_SECONDS = 5.0
_MAX_RECORDS_PER_READ = 1000
_NOT_COMMITS = frozenset({str(SUMMARY_REVISION), str(LISTING_MARKER_REVISION), str(CONTROL_REVISION)})
_INSERTED_COMMIT = "digest"
_RESTART_COMMIT = "replaces"
_ITEMS = ("Keys", "NewImage", "OldImage")
"""The parts of a stream record holding attribute values (binary: bytes from boto3, base64 for Lambda)."""


def matches_filter(record: Mapping[str, Any]) -> bool:
    """The mapping's FilterCriteria: commits (with a digest) INSERTed, or MODIFYing a soft delete's marker
    (a restart: it names the marker it `replaces`), and lifecycle markers (with a kind) INSERTed or
    MODIFYing one (a tombstone after a soft delete); not summaries, listing markers, control items, feed
    items, checkpoints or other updates."""
    event_name = record.get("eventName")
    if event_name not in {"INSERT", "MODIFY"}:
        return False
    change = record.get("dynamodb", {})
    revision = change.get("Keys", {}).get(layout().range_key, {}).get("N")
    image = change.get("NewImage", {})
    commit = "S" in image.get(_INSERTED_COMMIT if event_name == "INSERT" else _RESTART_COMMIT, {})
    marker = "S" in image.get("kind", {})
    return revision is not None and revision not in _NOT_COMMITS and (commit or marker)


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A boto3 GetRecords record as Lambda hands it to the function (JSON-shaped, binary as base64)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    for image in _ITEMS:
        if image in stream:
            stream[image] = encode_item(stream[image])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


@dataclass(slots=True)
class _Shard:
    shard_id: str
    iterator: str | None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    buffered_since: float = 0.0
    last_read: str | None = None
    """Sequence number of the newest record read, filtered out or not."""
    checkpoint: str | None = None
    """Everything up to here has been handled (delivered, filtered out or sent to the on-failure queue)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    failed_from: int | None
    """Index of the first record to retry; None when the batch succeeded."""
    function_error: bool
    request_id: str


class StreamPump:
    def __init__(
        self,
        *,
        clients: Clients,
        stream_arn: str,
        function: Function,
        on_failure_queue_url: str | None,
        region: str,
        settings: PumpSettings,
        positions: Mapping[str, str] | None = None,
        skip_existing_records: bool = False,
        record_filter: Callable[[Mapping[str, Any]], bool] = matches_filter,
    ) -> None:
        """`positions`: resume after these sequence numbers; `skip_existing_records`: start the shards that
        exist now at LATEST (their records are a snapshot's restore, notified before the restart)."""
        self._clients = clients
        self._stream_arn = stream_arn
        self._function = function
        self._queue_url = on_failure_queue_url
        self._region = region
        self._settings = settings
        self._resume_after = dict(positions or {})
        self._shards: dict[str, _Shard] = {}
        self._shards_refreshed = 0.0
        self._skip_existing = skip_existing_records
        self._filter = record_filter
        self._draining = threading.Event()
        self._halt = threading.Event()
        self._caught_up = False
        self._thread = threading.Thread(target=self._run, name="stream-pump", daemon=True)

    def start(self) -> None:
        # Position the shards now, before the caller serves writes: a LATEST iterator taken later by the
        # thread would skip the commits written in between, and they would never be notified or fed.
        self._refresh_shards()
        self._thread.start()
        log.info("stream pump reading %s into %s", self._stream_arn, self._function.name)

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Deliver what the stream holds (up to `drain_seconds`), then stop."""
        self._draining.set()
        self._thread.join(drain_seconds)
        self._halt.set()
        self._thread.join()

    @property
    def caught_up(self) -> bool:
        """After `stop`: every record the stream held was handled (the drain finished in time)."""
        return self._caught_up

    def positions(self) -> dict[str, str]:
        """Per shard, the sequence number up to which every record has been handled."""
        return {s.shard_id: s.checkpoint for s in list(self._shards.values()) if s.checkpoint is not None}

    def _run(self) -> None:
        while not self._halt.is_set():
            try:
                progressed = self._poll_once()
                caught_up = not progressed
            except Exception:
                log.exception("stream pump: polling failed; retrying")
                progressed = caught_up = False
            if not progressed:
                if self._draining.is_set():
                    self._caught_up = caught_up
                    return
                self._halt.wait(self._settings.poll_interval_seconds)

    def _poll_once(self) -> bool:
        self._refresh_shards()
        progressed = False
        for shard in list(self._shards.values()):
            progressed |= self._read(shard)
            batch = self._next_batch(shard)
            if batch:
                undelivered = self._deliver(shard, batch, retries_left=self._settings.maximum_retry_attempts)
                # Stopped mid-retry: keep those records (and the checkpoint before them) for the next start.
                shard.buffer = undelivered + shard.buffer
                progressed = True
            if not shard.buffer and shard.last_read is not None:
                shard.checkpoint = shard.last_read
        return progressed

    def _refresh_shards(self) -> None:
        now = time.monotonic()
        if now - self._shards_refreshed < _SHARD_REFRESH_SECONDS:
            return
        self._shards_refreshed = now
        description = self._clients.streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._shards:
                after = self._resume_after.get(shard_id)
                iterator = self._iterator(shard_id, after, latest=self._skip_existing and after is None)
                self._shards[shard_id] = _Shard(shard_id, iterator)
        self._skip_existing = False

    def _iterator(self, shard_id: str, after: str | None, *, latest: bool = False) -> str:
        if after is None:
            response = self._clients.streams.get_shard_iterator(
                StreamArn=self._stream_arn,
                ShardId=shard_id,
                ShardIteratorType="LATEST" if latest else "TRIM_HORIZON",
            )
        else:
            response = self._clients.streams.get_shard_iterator(
                StreamArn=self._stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=after,
            )
        return response["ShardIterator"]

    def _read(self, shard: _Shard) -> bool:
        if shard.iterator is None:
            return False
        try:
            response = self._clients.streams.get_records(
                ShardIterator=shard.iterator, Limit=_MAX_RECORDS_PER_READ
            )
        except self._clients.streams.exceptions.ExpiredIteratorException:
            shard.iterator = self._iterator(shard.shard_id, shard.last_read)
            return False
        shard.iterator = response.get("NextShardIterator")
        records = response.get("Records", [])
        if not records:
            return False
        shard.last_read = records[-1]["dynamodb"]["SequenceNumber"]
        converted = [lambda_record(r, self._stream_arn, self._region) for r in records]
        matching = [record for record in converted if self._filter(record)]
        if matching and not shard.buffer:
            shard.buffered_since = time.monotonic()
        shard.buffer.extend(matching)
        return True

    def _next_batch(self, shard: _Shard) -> list[dict[str, Any]]:
        size = self._settings.batch_size
        window = self._settings.batching_window_seconds
        waiting = time.monotonic() - shard.buffered_since < window and not self._draining.is_set()
        if not shard.buffer or (len(shard.buffer) < size and waiting):
            return []
        batch, shard.buffer = shard.buffer[:size], shard.buffer[size:]
        shard.buffered_since = time.monotonic()
        return batch

    def _deliver(
        self, shard: _Shard, batch: list[dict[str, Any]], *, retries_left: int
    ) -> list[dict[str, Any]]:
        """Invoke the function until the batch is handled or given up on; return what the halt left."""
        attempts = 0
        while not self._halt.is_set():
            attempts += 1
            outcome = self._invoke(batch)
            if outcome.failed_from is None:
                return []
            if outcome.function_error and self._settings.bisect_batch_on_function_error and len(batch) > 1:
                # Splitting does not count against the retry quota (as in Lambda).
                half = len(batch) // 2
                first_left = self._deliver(shard, batch[:half], retries_left=retries_left)
                if first_left:
                    return first_left + batch[half:]
                return self._deliver(shard, batch[half:], retries_left=retries_left)
            batch = batch[outcome.failed_from :]
            if 0 <= retries_left < attempts:
                self._send_to_on_failure_queue(shard, batch, outcome, attempts, "RetryAttemptsExhausted")
                return []
            if self._too_old(batch[0]):
                self._send_to_on_failure_queue(shard, batch, outcome, attempts, "RecordAgeExceeded")
                return []
            self._halt.wait(min(self._settings.retry_backoff_seconds * 2 ** (attempts - 1), 2.0))
        return batch

    def _too_old(self, record: dict[str, Any]) -> bool:
        limit = self._settings.maximum_record_age_seconds
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        return limit >= 0 and isinstance(created, float) and time.time() - created > limit

    def _invoke(self, batch: list[dict[str, Any]]) -> _Outcome:
        context = self._function.new_context()
        first, last = batch[0]["dynamodb"]["SequenceNumber"], batch[-1]["dynamodb"]["SequenceNumber"]
        started = time.perf_counter()
        try:
            result = self._function.invoke({"Records": batch}, context)
        except Exception:
            log.exception(
                "%s: %d records %s..%s: function error", self._function.name, len(batch), first, last
            )
            return _Outcome(failed_from=0, function_error=True, request_id=context.aws_request_id)
        failed_from = _first_failure(result, batch) if self._settings.report_batch_item_failures else None
        elapsed = (time.perf_counter() - started) * 1000
        if failed_from is None:
            log.info(
                "%s: %d records %s..%s ok %.1f ms", self._function.name, len(batch), first, last, elapsed
            )
        else:
            log.warning(
                "%s: %d records %s..%s: %d failed, retrying from %s",
                self._function.name,
                len(batch),
                first,
                last,
                len(batch) - failed_from,
                batch[failed_from]["dynamodb"]["SequenceNumber"],
            )
        return _Outcome(failed_from=failed_from, function_error=False, request_id=context.aws_request_id)

    def _send_to_on_failure_queue(
        self, shard: _Shard, batch: list[dict[str, Any]], outcome: _Outcome, attempts: int, condition: str
    ) -> None:
        """Lambda's invocation record for discarded stream records, then the pump moves on."""
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if outcome.function_error:
            response_context["functionError"] = "Unhandled"
        record = {
            "requestContext": {
                "requestId": outcome.request_id,
                "functionArn": self._function.arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(
                    first.get("ApproximateCreationDateTime", time.time())
                ),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime", time.time())),
                "batchSize": len(batch),
                "streamArn": self._stream_arn,
            },
        }
        if self._queue_url is not None:
            self._clients.sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(record))
        log.error(
            "%s: gave up on %d records %s..%s after %d attempts (%s)",
            self._function.name,
            len(batch),
            first["SequenceNumber"],
            last["SequenceNumber"],
            attempts,
            "sent to the on-failure queue" if self._queue_url else "no on-failure destination: dropped",
        )


def _first_failure(result: Any, batch: list[dict[str, Any]]) -> int | None:
    """ReportBatchItemFailures: index of the lowest failed sequence number; 0 when the response is invalid."""
    if result is None:
        return None
    if not isinstance(result, dict):
        return 0
    failures = result.get("batchItemFailures")
    if not failures:
        return None
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    indexes: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in positions:
            return 0  # Lambda treats an empty, null or unknown identifier as a failure of the whole batch
        indexes.append(positions[identifier])
    return min(indexes)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
