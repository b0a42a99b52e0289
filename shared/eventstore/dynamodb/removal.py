"""Physical removal: deletes commits no reader can see any more, after archiving them when asked to.

Run by the scheduled `remove_expired` function (docs/design.md, "Physical removal and archive"). Work is
found through two indexes, never by scanning the table: the sparse `dueForRemoval` index (control items
that carry `sweepShard`) and, for stream types with a default max age, the listing index
`commitsByTypeAndTime`, whose entries are in time order, so the commits older than the cut-off are the
first entries of each shard. Each stream is then swept from its oldest commit by the rules of
`eventstore.retention`, in bounded batches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from eventstore import retention, timefmt
from eventstore.archive import ArchiveFailed, ArchiveWriter
from eventstore.commits import item_size
from eventstore.config import required
from eventstore.dynamodb.access import MAX_REVISION, Table, condition_failed, dynamodb_errors
from eventstore.retention import Control, Retention, StoredCommit

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

    from eventstore.lifecycle import Visibility
    from eventstore.observability import Telemetry

log = logging.getLogger(__name__)

MAX_BATCH_WRITE: Final = 25
"""DynamoDB's limit of requests in one BatchWriteItem."""
BATCH_WRITE_ATTEMPTS: Final = 6
KILOBYTE: Final = 1024
CHECKPOINT_PREFIX: Final = "$removal:"
"""Partition key of a type's removal checkpoint (revision 0): how far its max-count sweep has read."""
ORPHANS_CHECKPOINT: Final = (f"{CHECKPOINT_PREFIX}payloads", 1)
"""Where the orphan sweep stopped listing the payload bucket (revision 1: type checkpoints are at 0)."""
ORPHAN_GRACE: Final = timedelta(hours=1)
"""An unreferenced payload object younger than this stays: its commit may still be on its way (an append
writes it within its 5 s budget after the upload)."""
MAX_DELETE_OBJECTS: Final = 1000
"""S3's limit of keys in one DeleteObjects."""
NOTIFIED_WITHIN: Final = timedelta(minutes=5)
"""Commits older than this are fed and notified (notify_stream's lag is seconds): a max-count sweep reads
the index only up to now minus this, so what it reads is never held back."""


@dataclass(frozen=True, slots=True)
class RemovalSettings:
    """The removal function's: its table and the optional buckets (its per-type retention defaults are the
    reads' config.RetentionSettings)."""

    table_name: str
    archive_bucket: str | None
    """EVENTSTORE_ARCHIVE_BUCKET: archive removed events there first (unset: no archive)."""
    payload_bucket: str | None
    """EVENTSTORE_PAYLOAD_BUCKET: payload objects of removed streams go too (issue 21; unset: none)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RemovalSettings:
        return cls(
            table_name=required(environ, "EVENTSTORE_TABLE_NAME"),
            archive_bucket=environ.get("EVENTSTORE_ARCHIVE_BUCKET", "").strip() or None,
            payload_bucket=environ.get("EVENTSTORE_PAYLOAD_BUCKET", "").strip() or None,
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one run, so a run ends well inside the function's timeout; the rest waits for the next."""

    commits_per_span: int = 100
    """Commits per span (one archive object, four BatchWriteItems)."""
    commits_per_run: int = 5_000
    index_entries_per_shard: int = 1_000
    """Listing-index entries read per shard of a type with a default max age."""
    payload_objects_per_run: int = 10_000
    """Payload objects the orphan sweep lists per run (10 LIST requests); the next run lists on."""


@dataclass
class RunReport:
    """What one run did (logged, counted as metrics, and read by tests and the benchmark)."""

    streams_swept: int = 0
    commits_removed: int = 0
    events_removed: int = 0
    write_units: int = 0
    """Write units of the deletes: each item's size in KB rounded up, plus 1 per listing-index entry."""
    spans_archived: int = 0
    archive_failures: int = 0
    snapshots_removed: int = 0
    payload_objects_removed: int = 0
    orphans_removed: int = 0
    """Payload objects no commit references (lost appends, removed commits), older than ORPHAN_GRACE."""
    unprocessed_deletes: int = 0
    failed_streams: list[str] = field(default_factory=list)

    def count(self, telemetry: Telemetry) -> None:
        telemetry.count("RemovedEvents", self.events_removed)
        telemetry.count("RemovedCommits", self.commits_removed)
        telemetry.count("ArchivedSpans", self.spans_archived)
        telemetry.count("RemovedOrphanObjects", self.orphans_removed)
        # Alarmed on (terraform/alarms.tf): events due for removal stay because the archive failed.
        telemetry.count("ArchiveFailures", self.archive_failures)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scheduled_time(event: Mapping[str, Any]) -> datetime:
    """The run's "now": an EventBridge scheduled event's `time` (the local runtime's scheduler, and tests,
    move it), else the clock."""
    value = event.get("time")
    return timefmt.parse(value) if isinstance(value, str) else datetime.now(UTC)


class PayloadObjects:
    """The payload bucket of issue 21: a stream's payload objects live under `<streamId>/`."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def remove(self, stream_id: str, written_before: datetime | None) -> int:
        """Delete the stream's objects (only those last written before `written_before`, if given: a
        restarted stream's new payloads are written after its soft delete); the count deleted."""
        removed = 0
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=f"{stream_id}/"
        )
        for page in pages:
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": obj["Key"]}
                for obj in page.get("Contents", [])
                if written_before is None or obj["LastModified"] < written_before
            ]
            if keys:
                self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                removed += len(keys)
        return removed

    def listed(self, start_after: str, limit: int) -> Iterator[tuple[str, datetime]]:
        """Up to `limit` objects' keys and LastModified, in key order, after `start_after` ("": from the
        first)."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, StartAfter=start_after, PaginationConfig={"MaxItems": limit}
        )
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["LastModified"]

    def delete(self, keys: Sequence[str]) -> int:
        """Delete these objects; the count S3 reports deleted (Quiet: it answers only the failures)."""
        removed = 0
        for start in range(0, len(keys), MAX_DELETE_OBJECTS):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": key} for key in keys[start : start + MAX_DELETE_OBJECTS]
            ]
            response = self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
            removed += len(batch) - len(response.get("Errors", []))
        return removed


@dataclass(frozen=True, slots=True)
class _StreamState:
    control_item: Mapping[str, Any] | None
    control: Control
    snapshot: Mapping[str, Any] | None
    processed_through: int
    head: Mapping[str, Any]

    @property
    def head_kind(self) -> str | None:
        kind = self.head.get("kind")
        return kind["S"] if kind is not None else None

    @property
    def head_last_revision(self) -> int:
        return int(self.head["lastRevision"]["N"])

    @property
    def stream_type(self) -> str | None:
        value = self.head.get("streamType")
        return value["S"] if value is not None else self.control.stream_type


def _stored(item: Mapping[str, Any]) -> StoredCommit:
    return StoredCommit(int(item["revision"]["N"]), int(item["lastRevision"]["N"]), item["committedAt"]["S"])


def delete_write_units(item: Mapping[str, Any]) -> int:
    """A delete costs the item's size in KB, rounded up, plus 1 for its listing-index entry, if any."""
    units = max(1, -(-item_size(dict(item)) // KILOBYTE))
    return units + (1 if "listingShard" in item else 0)


class Remover:
    """One table's physical removal; `run(now)` is one scheduled run."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        defaults: Mapping[str, Retention],
        archive: ArchiveWriter | None = None,
        payloads: PayloadObjects | None = None,
        limits: Limits = Limits(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = Table(client, table_name)
        self._defaults = dict(defaults)
        self._archive = archive
        self._payloads = payloads
        self._limits = limits
        self._sleep = sleep

    # -- finding work ------------------------------------------------------------------------------------

    def due_streams(self, now: datetime) -> list[str]:
        """Streams that may hold removable commits: those whose control item is marked due, those with
        index entries older than their type's default max age, and those of a type with a default max
        count appended to since the last run. Each stream once, in that order."""
        return self._due(now)[0]

    def _due(self, now: datetime) -> tuple[list[str], dict[str, dict[str, str]]]:
        seen: dict[str, None] = {}
        for stream_id in self._marked_due():
            seen.setdefault(stream_id)
        for stream_id in self._past_type_max_age(now):
            seen.setdefault(stream_id)
        checkpoints: dict[str, dict[str, str]] = {}
        for stream_type, stream_ids, reached in self._appended_since_last_run(now):
            for stream_id in stream_ids:
                seen.setdefault(stream_id)
            checkpoints[stream_type] = reached
        return list(seen), checkpoints

    def _paged_query(self, request: Any, limit: int | None = None) -> Iterator[Any]:
        read = 0
        while True:
            response = self._table.query(request)
            for item in response.get("Items", []):
                yield item
                read += 1
                if limit is not None and read >= limit:
                    return
            if "LastEvaluatedKey" not in response:
                return
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    def _marked_due(self) -> Iterator[str]:
        layout = self._table.layout
        for shard in range(retention.SWEEP_SHARDS):
            request = {
                "TableName": self._table.name,
                "IndexName": layout.removal_index,
                "KeyConditionExpression": "#shard = :shard",
                "ExpressionAttributeNames": {"#shard": layout.removal_hash_key},
                "ExpressionAttributeValues": {":shard": {"S": str(shard)}},
            }
            for item in self._paged_query(request):
                yield item[layout.hash_key]["S"]

    def _past_type_max_age(self, now: datetime) -> Iterator[str]:
        layout = self._table.layout
        for stream_type, bounds in sorted(self._defaults.items()):
            if bounds.max_age_seconds is None:
                continue
            cutoff = timefmt.format_instant(now - timedelta(seconds=bounds.max_age_seconds))
            for shard in range(layout.listing_shards):
                request = {
                    "TableName": self._table.name,
                    "IndexName": layout.listing_index,
                    "KeyConditionExpression": "#shard = :shard AND #position < :cutoff",
                    "ExpressionAttributeNames": {
                        "#shard": layout.listing_hash_key,
                        "#position": layout.listing_range_key,
                    },
                    "ExpressionAttributeValues": {
                        ":shard": {"S": f"{stream_type}#{shard}"},
                        ":cutoff": {"S": cutoff},
                    },
                }
                for item in self._paged_query(request, self._limits.index_entries_per_shard):
                    yield item[layout.hash_key]["S"]

    def _appended_since_last_run(self, now: datetime) -> Iterator[tuple[str, list[str], dict[str, str]]]:
        """Per type with a default max count: the streams with index entries after the type's checkpoint
        (`$removal:<type>`, one position per shard) and up to NOTIFIED_WITHIN before now (by then
        notify_stream has processed them, so the sweep is not held back), and the positions reached."""
        layout = self._table.layout
        until = timefmt.format_instant(now - NOTIFIED_WITHIN)
        for stream_type, bounds in sorted(self._defaults.items()):
            if bounds.max_count is None:
                continue
            checkpoint = self._table.get_item(f"{CHECKPOINT_PREFIX}{stream_type}", 0) or {}
            stream_ids: list[str] = []
            reached: dict[str, str] = {}
            for shard in range(layout.listing_shards):
                reached_before = checkpoint.get(f"shard{shard}", {}).get("S")
                reached[f"shard{shard}"] = reached_before or ""
                # Just after the checkpoint: " " sorts below every character a position goes on with.
                start = f"{reached_before} " if reached_before else "0"
                if start >= until:
                    continue
                request = {
                    "TableName": self._table.name,
                    "IndexName": layout.listing_index,
                    "KeyConditionExpression": "#shard = :shard AND #position BETWEEN :from AND :until",
                    "ExpressionAttributeNames": {
                        "#shard": layout.listing_hash_key,
                        "#position": layout.listing_range_key,
                    },
                    "ExpressionAttributeValues": {
                        ":shard": {"S": f"{stream_type}#{shard}"},
                        ":from": {"S": start},
                        ":until": {"S": until},
                    },
                }
                for item in self._paged_query(request, self._limits.index_entries_per_shard):
                    stream_ids.append(item[layout.hash_key]["S"])
                    reached[f"shard{shard}"] = item[layout.listing_range_key]["S"]
            yield stream_type, stream_ids, reached

    def _save_checkpoint(self, stream_type: str, reached: Mapping[str, str]) -> None:
        with dynamodb_errors():
            self._table.client.put_item(
                TableName=self._table.name,
                Item={
                    **self._table.key(f"{CHECKPOINT_PREFIX}{stream_type}", 0),
                    **{name: {"S": position} for name, position in reached.items() if position},
                },
            )

    # -- one run -----------------------------------------------------------------------------------------

    def run(self, now: datetime) -> RunReport:
        report = RunReport()
        self._sweep_streams(now, report)
        if self._payloads is not None:
            try:
                self._sweep_orphans(self._payloads, now, report)
            except (ClientError, BotoCoreError):
                log.exception("payload orphans not swept; the next run lists the same objects again")
        return report

    def _sweep_streams(self, now: datetime, report: RunReport) -> None:
        stream_ids, checkpoints = self._due(now)
        for stream_id in stream_ids:
            if report.commits_removed >= self._limits.commits_per_run:
                # The rest waits for the next run; checkpoints stay where they were, so none is skipped.
                return
            try:
                self.sweep(stream_id, now, report)
            except ArchiveFailed:
                log.exception("archive failed; the stream's events stay", extra={"streamId": stream_id})
                report.archive_failures += 1
                report.failed_streams.append(stream_id)
        if not report.failed_streams:
            for stream_type, reached in checkpoints.items():
                self._save_checkpoint(stream_type, reached)

    def _sweep_orphans(self, payloads: PayloadObjects, now: datetime, report: RunReport) -> None:
        """Delete payload objects older than ORPHAN_GRACE that no commit of their stream references: uploads
        whose commit was never written, and objects of commits removed since. Lists up to
        `payload_objects_per_run` objects from where the last run stopped, then one Query per stream with
        old objects. The grace is counted back from the run's time (the schedule's). Reads never load a
        removed commit's objects: removal takes only commits reads already hide."""
        stream_id, revision = ORPHANS_CHECKPOINT
        checkpoint = self._table.get_item(stream_id, revision) or {}
        limit = self._limits.payload_objects_per_run
        old: dict[str, list[str]] = {}
        listed, last = 0, ""
        for key, modified in payloads.listed(checkpoint.get("after", {}).get("S", ""), limit):
            listed, last = listed + 1, key
            owner, slash, _ = key.partition("/")
            if slash and modified < now - ORPHAN_GRACE:
                old.setdefault(owner, []).append(key)
        for owner, keys in old.items():
            referenced = self._referenced_objects(owner)
            orphans = [key for key in keys if key not in referenced]
            if orphans:
                report.orphans_removed += payloads.delete(orphans)
        # Fewer than the limit: the bucket's end was reached, so the next run starts from its first key.
        item = {**self._table.key(stream_id, revision), **({"after": {"S": last}} if listed >= limit else {})}
        with dynamodb_errors():
            self._table.client.put_item(TableName=self._table.name, Item=item)

    def _referenced_objects(self, stream_id: str) -> set[str]:
        """The object keys the stream's commits reference (markers have no events). Eventually consistent
        (half the read units): a commit is written seconds after its objects, long before they pass the
        grace."""
        request = self._key_range(stream_id, 1, MAX_REVISION)
        request = {
            **request,
            "ConsistentRead": False,
            "ProjectionExpression": "#events",
            "ExpressionAttributeNames": {**request["ExpressionAttributeNames"], "#events": "events"},
        }
        return {
            event["M"]["ref"]["M"]["key"]["S"]
            for item in self._paged_query(request)
            for event in item.get("events", {}).get("L", [])
            if "ref" in event["M"]
        }

    def sweep(self, stream_id: str, now: datetime, report: RunReport) -> None:
        """Remove what is due in one stream. Idempotent: a run killed at any point leaves only removals
        that reads already hid, and the next run carries on from the stream's oldest remaining commit."""
        state = self._read_state(stream_id)
        if state is None:
            return
        report.streams_swept += 1
        shown = retention.removable_before(
            state.control, self._defaults.get(state.stream_type or ""), state.head_last_revision, now
        )
        head_commit = int(state.head["revision"]["N"]) if state.head_kind is None else None
        finished = self._remove_commits(
            stream_id,
            state=state,
            shown=shown,
            head_commit=head_commit,
            now=now,
            report=report,
        )
        if not finished:
            return
        if state.head_kind is not None:
            self._remove_stream_extras(stream_id, state, report)
        self._clear_due_mark(stream_id, state)

    def _read_state(self, stream_id: str) -> _StreamState | None:
        reserved = {
            int(item["revision"]["N"]): item
            for item in self._paged_query(self._key_range(stream_id, retention.SNAPSHOT_REVISION, 0))
        }
        newest: Any = {**self._key_range(stream_id, 1, MAX_REVISION), "ScanIndexForward": False, "Limit": 1}
        head_items = self._table.query(newest).get("Items", [])
        if not head_items:
            return None
        summary = reserved.get(0)
        processed = 0
        if summary is not None:
            processed = min(
                int(summary.get("lastRevision", {"N": "0"})["N"]),
                int(summary.get("fedRevision", {"N": "0"})["N"]),
            )
        control_item = reserved.get(retention.CONTROL_REVISION)
        return _StreamState(
            control_item=control_item,
            control=Control.from_item(control_item),
            snapshot=reserved.get(retention.SNAPSHOT_REVISION),
            processed_through=processed,
            head=head_items[0],
        )

    def _key_range(self, stream_id: str, low: int, high: int) -> Any:
        return {
            "TableName": self._table.name,
            "KeyConditionExpression": "#id = :id AND #rev BETWEEN :low AND :high",
            "ExpressionAttributeNames": {
                "#id": self._table.layout.hash_key,
                "#rev": self._table.layout.range_key,
            },
            "ExpressionAttributeValues": {
                ":id": {"S": stream_id},
                ":low": {"N": str(low)},
                ":high": {"N": str(high)},
            },
            "ConsistentRead": True,
        }

    def _remove_commits(
        self,
        stream_id: str,
        *,
        state: _StreamState,
        shown: Visibility,
        head_commit: int | None,
        now: datetime,
        report: RunReport,
    ) -> bool:
        """Remove the stream's due commits span by span; True when nothing due is left behind."""
        low = 1
        while True:
            request: Any = {
                **self._key_range(stream_id, low, MAX_REVISION),
                "Limit": self._limits.commits_per_span,
            }
            page = self._table.query(request).get("Items", [])
            commits = [item for item in page if "digest" in item]
            due = retention.removable_commits(
                [_stored(item) for item in commits],
                shown=shown,
                head_commit_revision=head_commit,
                processed_through=state.processed_through,
            )
            span = commits[: len(due)]
            if span:
                if report.commits_removed + len(span) > self._limits.commits_per_run:
                    return False
                if self._remove_span(stream_id, span, now, report):
                    return False  # deletes left unprocessed: the stream stays due for the next run
            if len(span) < len(commits):
                # Stopped at a commit that stays. Nothing more is due for good only when it is visible: an
                # invisible one is the head (due once an append follows it) or not yet notified.
                return not retention.commit_invisible(_stored(commits[len(span)]), shown)
            if len(page) < self._limits.commits_per_span:
                return True
            low = int(page[-1]["lastRevision"]["N"]) + 1

    def _remove_span(
        self, stream_id: str, span: Sequence[Mapping[str, Any]], now: datetime, report: RunReport
    ) -> int:
        """Archive the span (when on), then delete it; the count of deletes DynamoDB left unprocessed."""
        stream_type = span[0]["streamType"]["S"]
        if self._archive is not None:
            self._archive.archive(stream_id, stream_type, span, timefmt.format_instant(now))
            report.spans_archived += 1
        keys = [self._table.key(stream_id, int(item["revision"]["N"])) for item in span]
        left = self._batch_delete(keys)
        report.unprocessed_deletes += left
        report.commits_removed += len(span) - left
        report.events_removed += sum(len(item["events"]["L"]) for item in span)
        report.write_units += sum(delete_write_units(item) for item in span)
        return left

    def _batch_delete(self, keys: Sequence[Any]) -> int:
        """Delete the keys in batches of 25, asking again for what DynamoDB leaves unprocessed; the count
        still unprocessed at the end (left for the next run: reads hide those commits already)."""
        left = 0
        for start in range(0, len(keys), MAX_BATCH_WRITE):
            pending: Any = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + MAX_BATCH_WRITE]]
            for attempt in range(BATCH_WRITE_ATTEMPTS):
                if not pending:
                    break
                if attempt:
                    self._sleep(0.05 * 2**attempt)
                with dynamodb_errors():
                    response = self._table.client.batch_write_item(RequestItems={self._table.name: pending})
                pending = response.get("UnprocessedItems", {}).get(self._table.name, [])
            left += len(pending)
        if left:
            log.warning("DynamoDB left deletes unprocessed; the next run retries them", extra={"count": left})
        return left

    def _remove_stream_extras(self, stream_id: str, state: _StreamState, report: RunReport) -> None:
        """A deleted or tombstoned stream (its head is a lifecycle marker): its snapshot and payload objects.
        The marker and the control item stay (the revision to continue from; the tombstone)."""
        if state.snapshot is not None:
            with dynamodb_errors():
                self._table.client.delete_item(
                    TableName=self._table.name, Key=self._table.key(stream_id, retention.SNAPSHOT_REVISION)
                )
            report.snapshots_removed += 1
        if self._payloads is not None:
            written_before = None
            if state.head_kind == retention.DELETED:
                written_before = timefmt.parse(state.head["deletedAt"]["S"])
            try:
                report.payload_objects_removed += self._payloads.remove(stream_id, written_before)
            except (ClientError, BotoCoreError):
                log.exception(
                    "payload objects not removed; the next run retries", extra={"streamId": stream_id}
                )

    def _clear_due_mark(self, stream_id: str, state: _StreamState) -> None:
        """Take the stream out of the `dueForRemoval` index once its control item can hide nothing more
        over time (no own maxCount / maxAgeSeconds), on condition that the floor it was swept to is still
        the item's (a delete or truncate since then keeps the mark)."""
        item = state.control_item
        if item is None or "sweepShard" not in item or state.control.bounded:
            return
        names = {"#shard": "sweepShard"}
        values: dict[str, Any] = {}
        conditions = []
        for index, name in enumerate(
            ("deletedBefore", "truncateBefore", "tombstonedAt", "maxCount", "maxAgeSeconds")
        ):
            names[f"#a{index}"] = name
            if name in item:
                values[f":v{index}"] = item[name]
                conditions.append(f"#a{index} = :v{index}")
            else:
                conditions.append(f"attribute_not_exists(#a{index})")
        request: Any = {
            "TableName": self._table.name,
            "Key": self._table.key(stream_id, retention.CONTROL_REVISION),
            "UpdateExpression": "REMOVE #shard",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            with dynamodb_errors():
                self._table.client.update_item(**request)
        except ClientError as exc:
            if not condition_failed(exc):
                raise
