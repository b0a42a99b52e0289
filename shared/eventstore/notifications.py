"""notify_stream's logic: DynamoDB Streams records in, one SNS notification per accepted append out.

Per stream, in revision order: read the stream's summary (its two cursors: fed and notified,
docs/design.md), append the commits not fed yet to the feeds (eventstore.feedwriter), publish the commits that
follow the notified cursor and are fed, then move both cursors in one write. Commits missing between the
cursor and a record (delivered in another batch or shard, or given up on after an outage) are read from
the table and published first, so a stream's notifications never overtake each other and one lost record
never stalls a stream. A record that cannot be notified now (SNS or the table failed) is reported in
`batchItemFailures` together with every later record of its stream, so Lambda retries it from the lowest
reported sequence number; the notified cursor moves only after a publish succeeded. A batch whose feed
write fails is retried whole: nothing is published before it is fed.

Not Powertools' BatchProcessor: it handles records one at a time, and this needs the whole batch (per-stream
coalescing, PublishBatch of 10 across streams).
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, Unpack

from botocore.exceptions import BotoCoreError, ClientError

from eventstore import timefmt
from eventstore.commits import Commit, decode_commit, is_commit_key
from eventstore.config import required
from eventstore.domain import EventStoreError
from eventstore.feedwriter import FeedContention, FeedLog, FeedOutcome, FeedWriter, StreamCursors
from eventstore.lifecycle import LifecycleMarker, decode_marker, is_marker
from eventstore.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import (
        MessageAttributeValueTypeDef,
        PublishBatchInputTypeDef,
        PublishBatchRequestEntryTypeDef,
        PublishBatchResponseTypeDef,
    )

MAX_BATCH_ENTRIES: Final = 10
"""PublishBatch takes at most 10 entries."""

MAX_PUBLISH_BYTES: Final = 256 * 1024
"""SNS's limit for one message and for a whole PublishBatch call (bodies and attributes)."""


@dataclass(frozen=True, slots=True)
class TopicSettings:
    topic_arn: str

    @property
    def is_fifo(self) -> bool:
        return self.topic_arn.endswith(".fifo")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> TopicSettings:
        return cls(topic_arn=required(environ, "EVENTSTORE_TOPIC_ARN"))


# Parsed input ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A stream record that carries a new commit (an INSERT of a commit item, or a restart's MODIFY)."""

    position: int
    """Index in the batch; the batch is in sequence-number order."""

    sequence_number: str
    commit: Commit
    written_at: datetime | None = None
    """When DynamoDB wrote it (the record's ApproximateCreationDateTime, rounded down to the second)."""

    @property
    def stream_id(self) -> str:
        return self.commit.stream_id


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """An INSERT of a commit key whose image does not decode: reported, so it ends in the on-failure queue."""

    position: int
    sequence_number: str
    stream_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class MarkerRecord:
    """A stream record that carries a deletion: a lifecycle marker put in a stream's head slot."""

    position: int
    sequence_number: str
    marker: LifecycleMarker

    @property
    def stream_id(self) -> str:
        return self.marker.stream_id


@dataclass(frozen=True, slots=True)
class StreamBatch:
    commits: tuple[CommitRecord, ...]
    unreadable: tuple[UnreadableRecord, ...]
    ignored: int
    """Records that are not new events: summary items, MODIFY, REMOVE (TTL), anything else."""
    markers: tuple[MarkerRecord, ...] = ()


_WRITES: Final = frozenset({"INSERT", "MODIFY"})
"""A commit is INSERTed, or MODIFYs a soft delete's marker when it starts the stream again (it then names
the marker it `replaces`); commits are never modified otherwise. A marker is INSERTed, or MODIFYs a soft
delete's marker into a tombstone."""


def parse_event(event: Mapping[str, Any]) -> StreamBatch:
    """Read a Lambda DynamoDB Streams event: new commits (new events) and lifecycle markers (deletions)."""
    commits: list[CommitRecord] = []
    markers: list[MarkerRecord] = []
    unreadable: list[UnreadableRecord] = []
    ignored = 0
    for position, record in enumerate(event.get("Records") or ()):
        change = record.get("dynamodb") or {}
        keys: Any = change.get("Keys")
        image: Any = change.get("NewImage")
        if record.get("eventName") not in _WRITES:
            ignored += 1
            continue
        if is_marker(image):
            try:
                markers.append(MarkerRecord(position, str(change["SequenceNumber"]), decode_marker(image)))
            except (KeyError, TypeError, ValueError) as exc:
                stream_id = keys.get("streamId", {}).get("S")
                unreadable.append(
                    UnreadableRecord(position, str(change["SequenceNumber"]), stream_id, repr(exc))
                )
            continue
        restart = isinstance(image, dict) and "replaces" in image
        if not _is_commit_key(keys, image) or (record["eventName"] == "MODIFY" and not restart):
            ignored += 1
            continue
        sequence_number = str(change["SequenceNumber"])
        try:
            commit = decode_commit(change["NewImage"])
        except (KeyError, TypeError, ValueError) as exc:
            stream_id = keys.get("streamId", {}).get("S")
            unreadable.append(UnreadableRecord(position, sequence_number, stream_id, repr(exc)))
            continue
        commits.append(CommitRecord(position, sequence_number, commit, _written_at(change)))
    return StreamBatch(tuple(commits), tuple(unreadable), ignored, tuple(markers))


def _written_at(change: Mapping[str, Any]) -> datetime | None:
    created = change.get("ApproximateCreationDateTime")
    if not isinstance(created, int | float) or isinstance(created, bool):
        return None
    try:
        return datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):  # beyond datetime's (or the platform's) range
        return None


def _is_commit_key(keys: Any, image: Any) -> bool:
    try:
        return is_commit_key(keys, image)
    except (KeyError, TypeError, ValueError):
        return False  # not a key of this table: nothing to notify


# Messages -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    record: CommitRecord | MarkerRecord
    message: str
    attributes: Mapping[str, MessageAttributeValueTypeDef]
    group_id: str | None
    deduplication_id: str | None

    @property
    def size(self) -> int:
        return len(self.message.encode()) + _attributes_size(self.attributes)

    def entry(self, entry_id: str) -> PublishBatchRequestEntryTypeDef:
        entry: PublishBatchRequestEntryTypeDef = {
            "Id": entry_id,
            "Message": self.message,
            "MessageAttributes": dict(self.attributes),
        }
        if self.group_id is not None:
            entry["MessageGroupId"] = self.group_id
        if self.deduplication_id is not None:
            entry["MessageDeduplicationId"] = self.deduplication_id
        return entry


def _attributes_size(attributes: Mapping[str, MessageAttributeValueTypeDef]) -> int:
    # SNS counts each attribute's name, data type and value towards the message size.
    return sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode())
        for name, value in attributes.items()
    )


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def build_notification(
    record: CommitRecord, *, fifo: bool, max_bytes: int = MAX_PUBLISH_BYTES
) -> Notification:
    """The message for one commit: the original service's three fields plus the commit's extent and events."""
    commit = record.commit
    event_types = list(dict.fromkeys(e.event_type for e in commit.events))
    attributes: dict[str, MessageAttributeValueTypeDef] = {
        "StreamType": {"DataType": "String", "StringValue": commit.stream_type},
        "EventTypes": {"DataType": "String.Array", "StringValue": _json_text(event_types)},
    }
    head = {
        "StreamId": commit.stream_id,
        "StreamType": commit.stream_type,
        "StreamRevision": str(commit.last_revision),  # a string: the original service's consumers parse one
        "streamId": commit.stream_id,
        "streamType": commit.stream_type,
        "fromRevision": commit.first_revision,
        "toRevision": commit.last_revision,
    }
    events = [
        {"revision": e.revision, "eventId": e.event_id, "eventType": e.event_type} for e in commit.events
    ]
    tail = {"updatedAt": commit.committed_at}
    message = _json_text({**head, "events": events, **tail})
    budget = max_bytes - _attributes_size(attributes)
    if len(message.encode()) > budget:
        # Consumers read the events through the API anyway; the list only saves them a read.
        fixed = len(_json_text({**head, "events": [], **tail, "eventsTruncated": True}).encode())
        kept = 0
        for entry in events:
            fixed += len(_json_text(entry).encode()) + 1  # the entry and its comma
            if fixed > budget:
                break
            kept += 1
        message = _json_text({**head, "events": events[:kept], **tail, "eventsTruncated": True})
    return Notification(
        record=record,
        message=message,
        attributes=attributes,
        # Stream ids are UUIDs, so both ids stay within SNS's 128 allowed characters.
        group_id=commit.stream_id if fifo else None,
        deduplication_id=f"{commit.stream_id}:{commit.last_revision}" if fifo else None,
    )


def deletion_notification(record: MarkerRecord, *, fifo: bool) -> Notification:
    """The StreamDeleted notification; without the original service's fields (StreamRevision...), so no
    consumer takes it for new events."""
    marker = record.marker
    message = _json_text(
        {
            "type": "StreamDeleted",
            "streamId": marker.stream_id,
            "streamType": marker.stream_type,
            "mode": marker.mode,
            "lastRevision": marker.last_revision,
            "deletedAt": marker.deleted_at,
        }
    )
    attributes: dict[str, MessageAttributeValueTypeDef] = {
        "StreamType": {"DataType": "String", "StringValue": marker.stream_type},
        "NotificationType": {"DataType": "String", "StringValue": "StreamDeleted"},
    }
    return Notification(
        record=record,
        message=message,
        attributes=attributes,
        group_id=marker.stream_id if fifo else None,
        deduplication_id=f"{marker.stream_id}:{marker.kind}:{marker.last_revision}" if fifo else None,
    )


# Processing -----------------------------------------------------------------------------------------


class Publisher(Protocol):
    """The SNS client's PublishBatch (tests wrap it to inject failures)."""

    def publish_batch(self, **kwargs: Unpack[PublishBatchInputTypeDef]) -> PublishBatchResponseTypeDef: ...


class Metrics(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...

    def milliseconds(self, name: str, value: float) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    failed_sequence_numbers: tuple[str, ...]
    """Records to retry, in batch order; Lambda restarts from the lowest of them."""

    published: tuple[Notification, ...]

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The ReportBatchItemFailures response."""
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed_sequence_numbers]}


class NotificationCursor(FeedLog, Protocol):
    """What notify_stream needs: the feed writer's log, each stream's cursors (its summary) and the commits
    it feeds and publishes from."""

    def move_cursors(
        self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
    ) -> bool:
        """Set both cursors in one write, if the notified cursor is still as read and fed is not past
        `fed`; whether it was written."""
        ...

    def commits_between(self, stream_id: str, first_revision: int, last_revision: int) -> list[Commit]:
        """The commits holding revisions first..last (to fill gaps in notify_stream's input)."""
        ...

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        """List the commit's stream again if the commit became visible late; whether it did."""
        ...

    def complete_deletion(self, marker: LifecycleMarker) -> None:
        """Record a deletion marker on the stream's control item (idempotent; the deleter may have died
        before it did)."""
        ...


class Notifier:
    """Turns one batch of stream records into notifications; reports what must be retried."""

    def __init__(
        self,
        cursor: NotificationCursor,
        publisher: Publisher,
        topic: TopicSettings,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cursor = cursor
        self._publisher = publisher
        self._topic = topic
        self._metrics = metrics
        self._clock = clock
        self._writer = FeedWriter(cursor, clock=clock)

    def process(self, batch: StreamBatch) -> BatchOutcome:
        failed: dict[int, str] = {}
        for poison in batch.unreadable:
            failed[poison.position] = poison.sequence_number
        streams = _by_stream(batch)
        ready: dict[str, list[CommitRecord]] = {}

        def pending(cursors: Mapping[str, StreamCursors]) -> dict[str, list[Commit]]:
            # Gap fills are read once; on a retry the cursors have only moved on, so the writer (which
            # skips what is fed) and the publisher (what is notified) filter the same lists.
            for stream_id, records in streams.items():
                if stream_id not in ready:
                    base = min(cursors[stream_id].fed, cursors[stream_id].notified)
                    ready[stream_id] = self._ready(stream_id, records, base, failed)
            return {stream_id: [r.commit for r in records] for stream_id, records in ready.items()}

        try:
            fed = self._writer.feed(list(streams), pending)
        except (FeedContention, EventStoreError, ClientError, BotoCoreError):
            logger.exception("could not write the feed", extra={"streams": len(streams)})
            failed.update((r.position, r.sequence_number) for rs in streams.values() for r in rs)
            outcome = BatchOutcome(tuple(failed[p] for p in sorted(failed)), ())
            self._record(batch, outcome, 0, None)
            return outcome
        queues: dict[str, deque[Notification]] = {}
        for stream_id, records in ready.items():
            notified, through = fed.cursors[stream_id].notified, fed.fed[stream_id]
            self._mark_late(streams[stream_id], notified)
            queues[stream_id] = deque(
                build_notification(r, fifo=self._topic.is_fifo)
                for r in records
                if notified < r.commit.last_revision <= through
            )
        self._queue_deletions(batch, queues, fed, failed)
        published, calls = self._publish(queues, failed)
        if self._advance(ready, fed, published, failed):
            self._writer.completed(fed)
        outcome = BatchOutcome(tuple(failed[p] for p in sorted(failed)), tuple(published))
        self._record(batch, outcome, calls, fed, ready)
        return outcome

    def _queue_deletions(
        self,
        batch: StreamBatch,
        queues: dict[str, deque[Notification]],
        fed: FeedOutcome,
        failed: dict[int, str],
    ) -> None:
        """Complete each deletion on its stream's control item (its deleter may have died before it did)
        and queue its StreamDeleted notification in revision order: after the stream's commits up to its
        last revision, before a restart's. It waits (its record is retried) while commits before it are
        not notified yet, or when a record of its stream failed."""
        markers = batch.markers
        if not markers:
            return
        failed_streams = {r.stream_id for r in batch.commits if r.position in failed}
        unread = [m.stream_id for m in markers if m.stream_id not in fed.cursors]
        cursors = {**self._cursor.cursors(unread), **fed.cursors} if unread else dict(fed.cursors)
        for record in sorted(markers, key=lambda r: r.marker.key):
            marker, queue = record.marker, queues.setdefault(record.stream_id, deque())
            before = [n for n in queue if _last_revision(n) <= marker.last_revision]
            notified = max([cursors[record.stream_id].notified, *map(_last_revision, before)])
            if record.stream_id in failed_streams or notified < marker.last_revision:
                failed[record.position] = record.sequence_number
                failed_streams.add(record.stream_id)
                continue
            try:
                self._cursor.complete_deletion(marker)
            except (EventStoreError, ClientError, BotoCoreError):
                logger.exception("could not record a deletion", extra={"streamId": marker.stream_id})
                failed[record.position] = record.sequence_number
                continue
            after = [n for n in queue if _last_revision(n) > marker.last_revision]
            queue.clear()
            queue.extend([*before, deletion_notification(record, fifo=self._topic.is_fifo), *after])

    def _ready(
        self, stream_id: str, records: list[CommitRecord], base: int, failed: dict[int, str]
    ) -> list[CommitRecord]:
        """The stream's commits that follow `base` (the lower of its two cursors) without a gap: those may
        be fed and published now."""
        ready: list[CommitRecord] = []
        for offset, record in enumerate(records):
            commit = record.commit
            if commit.last_revision <= base:
                continue  # delivered again after it was fed and notified: nothing to do
            if commit.first_revision != base + 1:
                # Its predecessors have not been handled: their records are in another batch or shard,
                # or were given up on. They are in the table, so take them first, in order.
                missing = self._missing(stream_id, base + 1, commit.first_revision - 1)
                if missing is None:
                    failed.update((r.position, r.sequence_number) for r in records[offset:])
                    return ready
                # Their failures are reported under this record, the one that brought them in.
                ready.extend(CommitRecord(record.position, record.sequence_number, m) for m in missing)
            ready.append(record)
            base = commit.last_revision
        return ready

    def _mark_late(self, records: Sequence[CommitRecord], notified: int) -> None:
        """A commit written long after its stamp may have been passed by listing cursors; the store then
        lists its stream again. Only the newest commit matters (a timely newer entry supersedes the older
        ones in listings). The appender marks such commits itself; this covers one that did not live to do
        it, for delays the record's creation time (whole seconds) can show. A failure here is logged and
        counted, not retried: it must not hold back notifications."""
        newest = records[-1]
        if newest.commit.last_revision <= notified or newest.written_at is None:
            return
        extra = {"streamId": newest.commit.stream_id, "revision": newest.commit.last_revision}
        try:
            if self._cursor.mark_if_late(newest.commit, newest.written_at):
                logger.warning("commit written late; marked for listing", extra=extra)
        except (EventStoreError, ClientError, BotoCoreError):
            logger.exception("could not mark a late commit for listing", extra=extra)
            self._metrics.count("ListingMarksFailed")

    def _missing(self, stream_id: str, first: int, last: int) -> list[Commit] | None:
        """The commits holding revisions first..last, or None when they cannot all be read now. Read a
        page at a time: a stream notified before the feeds existed is fed from its first commit."""
        commits: list[Commit] = []
        expected = first
        while expected <= last:
            try:
                page = self._cursor.commits_between(stream_id, expected, last)
            except (EventStoreError, ClientError, BotoCoreError):
                logger.exception("could not read the commits to fill a gap", extra={"streamId": stream_id})
                return None
            if not page or page[0].first_revision != expected:
                logger.warning("gap not filled", extra={"streamId": stream_id, "from": first, "to": last})
                return None
            for commit in page:
                if commit.first_revision != expected:
                    break
                commits.append(commit)
                expected = commit.last_revision + 1
        logger.info("filled a gap from the table", extra={"streamId": stream_id, "from": first, "to": last})
        return commits

    def _advance(
        self,
        ready: Mapping[str, Sequence[CommitRecord]],
        fed: FeedOutcome,
        published: Sequence[Notification],
        failed: dict[int, str],
    ) -> bool:
        """Move each stream's two cursors in one write: fed over what the writer fed, notified over what
        was just published (a prefix of its ready commits). A failed publish still moves fed. Whether every
        stream's fed cursor moved (the items written are then complete)."""
        complete = True
        by_stream: dict[str, list[CommitRecord]] = {}
        for notification in published:
            if isinstance(notification.record, CommitRecord):
                by_stream.setdefault(notification.record.stream_id, []).append(notification.record)
        for stream_id, records in ready.items():
            read, through = fed.cursors[stream_id], fed.fed[stream_id]
            sent = by_stream.get(stream_id, [])
            notified = sent[-1].commit.last_revision if sent else read.notified
            if not records or (through, notified) == (read.fed, read.notified):
                continue
            try:
                moved = self._cursor.move_cursors(
                    stream_id, records[0].commit.stream_type, through, notified, read
                )
            except (EventStoreError, ClientError, BotoCoreError):
                logger.exception("could not move the stream's cursors", extra={"streamId": stream_id})
                moved = False
            if not moved:
                # Published but not recorded: retried, so published again (at least once) and recorded.
                # The feed needs nothing: the next writer completes the head item's effects.
                failed.update((r.position, r.sequence_number) for r in sent)
                complete = False
        return complete

    def _publish(
        self, queues: dict[str, deque[Notification]], failed: dict[int, str]
    ) -> tuple[list[Notification], int]:
        """Publish in rounds of one notification per stream, so a failure never lets a later one overtake.

        Entries of one PublishBatch call succeed or fail independently; with at most one entry per stream
        in a call, a stream's next notification is sent only after its previous one was accepted.
        """
        published: list[Notification] = []
        calls = 0
        while heads := [queue.popleft() for queue in queues.values() if queue]:
            for chunk in _chunks(heads):
                calls += 1
                for notification, accepted in zip(chunk, self._send(chunk), strict=True):
                    if accepted:
                        published.append(notification)
                        continue
                    queue = queues[notification.record.stream_id]
                    for dropped in (notification, *queue):
                        failed[dropped.record.position] = dropped.record.sequence_number
                    queue.clear()
        return published, calls

    def _send(self, chunk: Sequence[Notification]) -> list[bool]:
        return self._send_entries([n.entry(str(index)) for index, n in enumerate(chunk)])

    def _send_entries(self, entries: Sequence[PublishBatchRequestEntryTypeDef]) -> list[bool]:
        try:
            response = self._publisher.publish_batch(
                TopicArn=self._topic.topic_arn, PublishBatchRequestEntries=list(entries)
            )
        except (ClientError, BotoCoreError):
            logger.exception("PublishBatch failed", extra={"entries": len(entries)})
            return [False] * len(entries)
        if errors := response.get("Failed", []):
            logger.warning(
                "PublishBatch rejected entries",
                extra={"errors": [{"code": e["Code"], "senderFault": e["SenderFault"]} for e in errors]},
            )
        # Published only when SNS says so: an entry in neither list is retried, not assumed sent.
        accepted = {s["Id"] for s in response.get("Successful", [])} - {e["Id"] for e in errors}
        return [entry["Id"] in accepted for entry in entries]

    def _record(
        self,
        batch: StreamBatch,
        outcome: BatchOutcome,
        calls: int,
        fed: FeedOutcome | None,
        ready: Mapping[str, Sequence[CommitRecord]] | None = None,
    ) -> None:
        now = self._clock()
        commits = [n.record.commit for n in outcome.published if isinstance(n.record, CommitRecord)]
        lags = [_lag(now, commit) for commit in commits]
        self._metrics.count("NotificationsPublished", len(commits))
        self._metrics.count("StreamDeletedPublished", len(outcome.published) - len(commits))
        self._metrics.count("NotificationsFailed", len(outcome.failed_sequence_numbers))
        for lag in lags:
            self._metrics.milliseconds("NotificationLagMilliseconds", lag)
        newly_fed = [
            r.commit
            for stream_id, records in (ready or {}).items()
            for r in records
            if fed is not None and fed.cursors[stream_id].fed < r.commit.first_revision
        ]
        for commit in newly_fed:
            self._metrics.milliseconds("FeedLagMilliseconds", _lag(now, commit))
        self._metrics.count("FeedItemsWritten", len(fed.items) if fed else 0)
        self._metrics.count("FeedWriteConflicts", fed.conflicts if fed else 0)
        self._metrics.flush()
        for record in batch.unreadable:
            logger.error(
                "undecodable commit record",
                extra={
                    "sequenceNumber": record.sequence_number,
                    "streamId": record.stream_id,
                    "reason": record.reason,
                },
            )
        logger.info(
            "notified",
            extra={
                "records": len(batch.commits) + len(batch.markers) + len(batch.unreadable) + batch.ignored,
                "deletions": len(batch.markers),
                "commits": len(batch.commits),
                "ignored": batch.ignored,
                "published": len(outcome.published),
                "failed": len(outcome.failed_sequence_numbers),
                "publishCalls": calls,
                "fedCommits": len(newly_fed),
                "feedItems": len(fed.items) if fed else 0,
                "maxLagMilliseconds": round(max(lags, default=0.0)),
            },
        )


def _last_revision(notification: Notification) -> int:
    """The revision a notification follows: a commit's last, or the last before a deletion."""
    record = notification.record
    return record.commit.last_revision if isinstance(record, CommitRecord) else record.marker.last_revision


def _lag(now: datetime, commit: Commit) -> float:
    return max(0.0, (now - timefmt.parse(commit.committed_at)).total_seconds() * 1000)


def _by_stream(batch: StreamBatch) -> dict[str, list[CommitRecord]]:
    """Each stream's commits in revision order (Streams orders per item, not across a stream's items).

    Undecodable records need no special case here: their commits never advance the summary, so the
    cursor holds back whatever follows them in their stream.
    """
    streams: dict[str, list[CommitRecord]] = {}
    for record in batch.commits:
        streams.setdefault(record.commit.stream_id, []).append(record)
    return {
        stream_id: sorted(records, key=lambda r: r.commit.first_revision)
        for stream_id, records in streams.items()
    }


def _chunks(notifications: Iterable[Notification]) -> Iterator[list[Notification]]:
    """PublishBatch calls: at most 10 entries and 256 KB in all."""
    chunk: list[Notification] = []
    size = 0
    for notification in notifications:
        if chunk and (len(chunk) == MAX_BATCH_ENTRIES or size + notification.size > MAX_PUBLISH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(notification)
        size += notification.size
    if chunk:
        yield chunk
