"""Physical removal on moto: what goes, what stays, the archive before it, S3 failing, re-runs, kills."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import EndpointConnectionError

from eventstore.archive import ArchiveWriter, manifest_key
from eventstore.dynamodb.removal import Limits, PayloadObjects, Remover, RunReport
from eventstore.retention import Retention
from tests.removal.conftest import ARCHIVE, PAYLOADS, TABLE, Aws
from tests.removal.items import put_commit, put_control, put_marker, put_summary, revisions

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def remover(
    aws: Aws,
    *,
    defaults: dict[str, Retention] | None = None,
    archive: bool = False,
    s3: S3Client | None = None,
    limits: Limits | None = None,
) -> Remover:
    client = s3 or aws.s3
    return Remover(
        aws.dynamodb,
        TABLE,
        defaults=defaults or {},
        archive=ArchiveWriter(client, ARCHIVE) if archive else None,
        payloads=PayloadObjects(client, PAYLOADS),
        limits=limits or Limits(),
        sleep=lambda _seconds: None,
    )


def stream(aws: Aws, sizes: list[int], *, notified: bool = True, step: timedelta = timedelta(hours=1)) -> str:
    """A stream of commits of these sizes, one per `step` from T0; notified through its head."""
    stream_id = str(uuid.uuid4())
    revision = 1
    for index, size in enumerate(sizes):
        put_commit(aws.dynamodb, TABLE, stream_id, revision, size, at=T0 + index * step)
        revision += size
    if notified:
        put_summary(aws.dynamodb, TABLE, stream_id, revision - 1)
    return stream_id


def control(aws: Aws, stream_id: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(
        TableName=TABLE, Key={"streamId": {"S": stream_id}, "revision": {"N": "-2"}}, ConsistentRead=True
    )["Item"]


def test_a_soft_deleted_stream_keeps_its_marker_and_control_item_only(aws: Aws) -> None:
    stream_id = stream(aws, [2, 3, 1])
    put_marker(aws.dynamodb, TABLE, stream_id, "deleted", 6, at=T0 + timedelta(days=1))
    put_control(aws.dynamodb, TABLE, stream_id, deletedBefore=7, deletedAt="2026-01-02T00:00:00.000000Z")
    aws.dynamodb.put_item(
        TableName=TABLE, Item={"streamId": {"S": stream_id}, "revision": {"N": "-3"}, "state": {"S": "{}"}}
    )
    report = remover(aws).run(T0 + timedelta(days=2))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 7]
    assert (report.commits_removed, report.events_removed, report.snapshots_removed) == (3, 6, 1)
    assert "sweepShard" not in control(aws, stream_id), "nothing can fall due any more: out of the index"
    assert remover(aws).due_streams(T0 + timedelta(days=3)) == []


def test_a_tombstoned_stream_loses_its_payload_objects_and_no_other_stream_does(aws: Aws) -> None:
    stream_id, other = stream(aws, [1, 1]), stream(aws, [1])
    for owner in (stream_id, other):
        aws.s3.put_object(Bucket=PAYLOADS, Key=f"{owner}/1", Body=b"payload")
    put_marker(aws.dynamodb, TABLE, stream_id, "tombstone", 2, at=T0)
    put_control(aws.dynamodb, TABLE, stream_id, tombstonedAt="2026-01-01T00:00:00.000000Z")
    report = remover(aws).run(T0 + timedelta(hours=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 3]
    assert report.payload_objects_removed == 1
    assert [o["Key"] for o in aws.s3.list_objects_v2(Bucket=PAYLOADS)["Contents"]] == [f"{other}/1"]
    assert revisions(aws.dynamodb, TABLE, other) == [0, 1]


def test_a_restarted_stream_keeps_payload_objects_written_after_its_delete(aws: Aws) -> None:
    stream_id = stream(aws, [1])
    aws.s3.put_object(Bucket=PAYLOADS, Key=f"{stream_id}/old", Body=b"payload")
    put_marker(aws.dynamodb, TABLE, stream_id, "deleted", 1, at=datetime.now(UTC) - timedelta(hours=1))
    put_control(aws.dynamodb, TABLE, stream_id, deletedBefore=2)
    remover(aws).run(datetime.now(UTC))
    # LastModified of "old" is now, after the marker's deletedAt: a restart's payload, so it stays.
    assert [o["Key"] for o in aws.s3.list_objects_v2(Bucket=PAYLOADS)["Contents"]] == [f"{stream_id}/old"]


def test_truncate_removes_whole_commits_below_it_and_keeps_a_straddling_one(aws: Aws) -> None:
    stream_id = stream(aws, [3, 3, 3])  # revisions 1-3, 4-6, 7-9
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=5)
    remover(aws).run(T0 + timedelta(days=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 4, 7]
    assert "sweepShard" not in control(aws, stream_id)


def test_a_max_age_beyond_the_calendar_hides_nothing_and_stops_no_sweep(aws: Aws) -> None:
    """The API takes any maxAgeSeconds up to 2^53 - 1; reads treat one reaching before year 1 as no age
    bound. Removal follows the same rule: it removes what the truncate hides, and sweeps other streams."""
    ageless, other = stream(aws, [3, 3, 3]), stream(aws, [3, 3, 3])
    put_control(aws.dynamodb, TABLE, ageless, truncateBefore=5, maxAgeSeconds=9_007_199_254_740_991)
    put_control(aws.dynamodb, TABLE, other, truncateBefore=5)
    remover(aws).run(T0 + timedelta(days=1))
    assert revisions(aws.dynamodb, TABLE, ageless) == [-2, 0, 4, 7]
    assert revisions(aws.dynamodb, TABLE, other) == [-2, 0, 4, 7]


def test_the_head_commit_stays_even_when_invisible_and_the_stream_stays_due(aws: Aws) -> None:
    stream_id = stream(aws, [1, 1, 1])
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=100)
    remover(aws).run(T0 + timedelta(days=1))
    # Appends continue from the newest item: removing it would restart the stream at revision 1.
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 3]
    assert "sweepShard" in control(aws, stream_id), "due again as soon as an append follows it"
    put_commit(aws.dynamodb, TABLE, stream_id, 4, 1, at=T0 + timedelta(days=1))
    put_summary(aws.dynamodb, TABLE, stream_id, 4)
    remover(aws).run(T0 + timedelta(days=2))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 4]


def test_commits_not_yet_notified_stay_until_they_are(aws: Aws) -> None:
    stream_id = stream(aws, [1, 1, 1, 1], notified=False)
    put_summary(aws.dynamodb, TABLE, stream_id, 1)
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=4)
    remover(aws).run(T0 + timedelta(days=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 2, 3, 4]
    assert "sweepShard" in control(aws, stream_id)
    put_summary(aws.dynamodb, TABLE, stream_id, 4)
    remover(aws).run(T0 + timedelta(days=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 4]


def test_a_type_default_max_age_is_found_through_the_listing_index(aws: Aws) -> None:
    old = stream(aws, [1, 2, 1])  # at T0, T0+1h, T0+2h
    other_type = str(uuid.uuid4())
    put_commit(aws.dynamodb, TABLE, other_type, 1, 1, at=T0, stream_type="invoice")
    put_commit(aws.dynamodb, TABLE, other_type, 2, 1, at=T0, stream_type="invoice")
    put_summary(aws.dynamodb, TABLE, other_type, 2)
    defaults = {"order": Retention(max_age_seconds=3600)}
    now = T0 + timedelta(hours=2, minutes=30)  # cut-off T0+1h30: the first two commits
    assert remover(aws, defaults=defaults).due_streams(now) == [old]
    report = remover(aws, defaults=defaults).run(now)
    assert revisions(aws.dynamodb, TABLE, old) == [0, 4]
    assert report.events_removed == 3
    assert revisions(aws.dynamodb, TABLE, other_type) == [0, 1, 2]


def test_a_stream_max_count_overrides_the_type_default(aws: Aws) -> None:
    stream_id = stream(aws, [1, 1, 1, 1, 1])
    put_control(aws.dynamodb, TABLE, stream_id, maxCount=2)
    defaults = {"order": Retention(max_count=4, max_age_seconds=10**9)}
    remover(aws, defaults=defaults).run(T0 + timedelta(days=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 4, 5]
    assert "sweepShard" in control(aws, stream_id), "a max count falls due again with every append"


def read_archive(s3: S3Client, stream_id: str) -> list[dict[str, Any]]:
    """Every archived event of the stream, checked against the manifest (each revision once)."""
    manifest = json.loads(s3.get_object(Bucket=ARCHIVE, Key=manifest_key(stream_id))["Body"].read())
    events: dict[int, dict[str, Any]] = {}
    for span in manifest["spans"]:
        body = s3.get_object(Bucket=ARCHIVE, Key=span["key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == span["sha256"]
        for line in gzip.decompress(body).decode().splitlines():
            event = json.loads(line)
            events[event["revision"]] = event
    return [events[r] for r in sorted(events)]


def test_the_archive_holds_the_stored_events_with_sealed_payloads_still_sealed(aws: Aws) -> None:
    stream_id = str(uuid.uuid4())
    put_commit(aws.dynamodb, TABLE, stream_id, 1, 2, at=T0)
    put_commit(aws.dynamodb, TABLE, stream_id, 3, 1, at=T0, sealed=b"\x01ciphertext")
    put_commit(aws.dynamodb, TABLE, stream_id, 4, 1, at=T0)
    put_summary(aws.dynamodb, TABLE, stream_id, 4)
    put_marker(aws.dynamodb, TABLE, stream_id, "deleted", 4, at=T0)
    put_control(aws.dynamodb, TABLE, stream_id, deletedBefore=5)
    report = remover(aws, archive=True).run(T0 + timedelta(hours=1))
    assert report.spans_archived == 1
    events = read_archive(aws.s3, stream_id)
    assert [e["revision"] for e in events] == [1, 2, 3, 4]
    assert events[0]["data"] == {"n": 1}
    assert events[0]["metadata"]["principal"].endswith("user/tester")
    assert events[2]["dataSubject"] == "person-1"
    assert "data" not in events[2]
    assert events[2]["sealed"] == "AWNpcGhlcnRleHQ="  # base64 of the stored ciphertext, never opened
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 5]


class FailingS3:
    """S3 that fails (a dropped connection) on the `fail_at`-th request, counting from 1, and after."""

    def __init__(self, s3: S3Client, fail_at: int) -> None:
        self.calls = 0
        self.fail_at = fail_at
        s3.meta.events.register("before-call.s3", self._before_call)

    def _before_call(self, **_kwargs: Any) -> None:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, 6, 7, 8])
def test_s3_failing_half_way_removes_nothing_that_is_not_archived(aws: Aws, fail_at: int) -> None:
    import boto3  # noqa: PLC0415 - a client of its own, so the failures stay in it

    s3 = boto3.client("s3", region_name="us-east-1")
    FailingS3(s3, fail_at)
    stream_id = stream(aws, [1] * 7)
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=7)
    # Spans of 2 commits: 4 S3 requests each (put, read back, manifest get and put).
    report = remover(aws, archive=True, s3=s3, limits=Limits(commits_per_span=2)).run(T0 + timedelta(days=1))
    assert report.archive_failures == 1
    assert report.failed_streams == [stream_id]
    left = [r for r in revisions(aws.dynamodb, TABLE, stream_id) if r >= 1]
    removed = set(range(1, 8)) - set(left)
    archived = {e["revision"] for e in read_archive(aws.s3, stream_id)} if removed else set()
    assert removed <= archived, "every removed event is in a verified span of the manifest"
    assert removed == set(range(1, 1 + 2 * ((fail_at - 1) // 4)))
    healthy = remover(aws, archive=True, limits=Limits(commits_per_span=2)).run(T0 + timedelta(days=1))
    assert healthy.archive_failures == 0
    assert [r for r in revisions(aws.dynamodb, TABLE, stream_id) if r >= 1] == [7]
    assert [e["revision"] for e in read_archive(aws.s3, stream_id)] == [1, 2, 3, 4, 5, 6]


def test_re_runs_change_nothing(aws: Aws) -> None:
    stream_id = stream(aws, [2, 2, 2])
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=5)
    first = remover(aws, archive=True).run(T0 + timedelta(days=1))
    state = revisions(aws.dynamodb, TABLE, stream_id)
    manifest = aws.s3.get_object(Bucket=ARCHIVE, Key=manifest_key(stream_id))["Body"].read()
    second = remover(aws, archive=True).run(T0 + timedelta(days=1))
    assert first.commits_removed == 2
    assert second == RunReport()
    assert revisions(aws.dynamodb, TABLE, stream_id) == state == [-2, 0, 5]
    assert aws.s3.get_object(Bucket=ARCHIVE, Key=manifest_key(stream_id))["Body"].read() == manifest


class Killed(BaseException):
    """The function's process ending (timeout, crash): not an error removal handles."""


def test_a_run_killed_between_deletes_leaves_a_consistent_stream_that_the_next_run_finishes(aws: Aws) -> None:
    stream_id = stream(aws, [1] * 60)
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=60)
    batches = 0

    def kill_on_the_second_batch(**_kwargs: Any) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise Killed

    aws.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", kill_on_the_second_batch)
    with pytest.raises(Killed):
        remover(aws, archive=True).run(T0 + timedelta(days=1))
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", kill_on_the_second_batch)
    left = [r for r in revisions(aws.dynamodb, TABLE, stream_id) if r >= 1]
    assert left == list(range(26, 61)), "the first batch of 25 went; the visible events all stay"
    assert {e["revision"] for e in read_archive(aws.s3, stream_id)} == set(range(1, 60))
    remover(aws, archive=True).run(T0 + timedelta(days=1))
    assert [r for r in revisions(aws.dynamodb, TABLE, stream_id) if r >= 1] == [60]
    assert [e["revision"] for e in read_archive(aws.s3, stream_id)] == list(range(1, 60))


def test_unprocessed_deletes_are_asked_again(aws: Aws) -> None:
    stream_id = stream(aws, [1] * 4)
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=4)
    real = aws.dynamodb.batch_write_item
    calls: list[int] = []

    def leave_one_unprocessed(**request: Any) -> Any:
        pending = request["RequestItems"][TABLE]
        calls.append(len(pending))
        if len(calls) == 1:
            real(RequestItems={TABLE: pending[:-1]})
            return {"UnprocessedItems": {TABLE: pending[-1:]}}
        return real(**request)

    aws.dynamodb.batch_write_item = leave_one_unprocessed  # type: ignore[method-assign]
    report = remover(aws).run(T0 + timedelta(days=1))
    assert calls == [3, 1]
    assert report.unprocessed_deletes == 0
    assert [r for r in revisions(aws.dynamodb, TABLE, stream_id) if r >= 1] == [4]


def test_a_type_default_max_count_sweeps_streams_appended_since_the_last_run(aws: Aws) -> None:
    stream_id = stream(aws, [1, 1, 1, 1, 1])
    defaults = {"order": Retention(max_count=2)}
    assert remover(aws, defaults=defaults).run(T0 + timedelta(days=1)).commits_removed == 3
    assert revisions(aws.dynamodb, TABLE, stream_id) == [0, 4, 5]
    # The index is read from the type's checkpoint on: nothing new, nothing to sweep.
    assert remover(aws, defaults=defaults).due_streams(T0 + timedelta(days=1)) == []
    put_commit(aws.dynamodb, TABLE, stream_id, 6, 1, at=T0 + timedelta(days=1))
    put_summary(aws.dynamodb, TABLE, stream_id, 6)
    # Appended a minute ago: left for a later run, when notify_stream has surely processed it.
    assert remover(aws, defaults=defaults).due_streams(T0 + timedelta(days=1, minutes=1)) == []
    assert remover(aws, defaults=defaults).run(T0 + timedelta(days=2)).commits_removed == 1
    assert revisions(aws.dynamodb, TABLE, stream_id) == [0, 5, 6]


@pytest.mark.parametrize("after", [0, 1, 3])
def test_reads_below_the_first_remaining_revision_begin_at_it(aws: Aws, after: int) -> None:
    from eventstore.dynamodb.store import DynamoEventStore  # noqa: PLC0415

    stream_id = stream(aws, [2, 2, 2])  # 1-2, 3-4, 5-6
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=5)
    remover(aws).run(T0 + timedelta(days=1))
    store = DynamoEventStore(aws.dynamodb, TABLE, listing_settle=timedelta(0))
    page = store.read("order", stream_id, after, 10)
    assert [e.revision for e in page.events] == [5, 6]
    assert not page.has_more
    assert [e.revision for e in store.read("order", stream_id, 5, 10).events] == [6]


def test_deletes_left_unprocessed_keep_the_stream_due_until_a_later_run_removes_them(aws: Aws) -> None:
    stream_id = stream(aws, [1] * 3)
    put_marker(aws.dynamodb, TABLE, stream_id, "deleted", 3, at=T0)
    put_control(aws.dynamodb, TABLE, stream_id, deletedBefore=4)
    real = aws.dynamodb.batch_write_item

    def always_leave_the_last(**request: Any) -> Any:
        pending = request["RequestItems"][TABLE]
        if len(pending) > 1:
            real(RequestItems={TABLE: pending[:-1]})
        return {"UnprocessedItems": {TABLE: pending[-1:]}}

    aws.dynamodb.batch_write_item = always_leave_the_last  # type: ignore[method-assign]
    report = remover(aws).run(T0 + timedelta(days=1))
    assert (report.unprocessed_deletes, report.commits_removed) == (1, 2)
    assert "sweepShard" in control(aws, stream_id), "still due: the next run must find it"
    aws.dynamodb.batch_write_item = real  # type: ignore[method-assign]
    remover(aws).run(T0 + timedelta(days=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 4]
    assert "sweepShard" not in control(aws, stream_id)


def test_what_the_api_hides_is_removed_the_api_marks_the_stream_due(aws: Aws) -> None:
    """The lifecycle operations themselves (not items written by hand) put the stream in the removal
    index: truncate through the metadata, then a soft delete, each removed by the next run."""
    from eventstore.appends import NewEvent  # noqa: PLC0415 - only this test drives the store
    from eventstore.domain import Caller  # noqa: PLC0415
    from eventstore.dynamodb.store import DynamoEventStore  # noqa: PLC0415
    from eventstore.lifecycle import StreamMetadata  # noqa: PLC0415

    store = DynamoEventStore(aws.dynamodb, TABLE, clock=lambda: T0)
    caller = Caller(principal="arn:aws:iam::123456789012:user/tester", request_id="req-1")
    stream_id = str(uuid.uuid4())
    store.create("ledger", stream_id, [NewEvent(str(uuid.uuid4()), "Opened", {"n": 0})], caller)
    for revision in (1, 2):
        store.append("ledger", stream_id, revision, [NewEvent(str(uuid.uuid4()), "Moved", {})], caller)
    put_summary(aws.dynamodb, TABLE, stream_id, 3)
    store.set_metadata("ledger", stream_id, StreamMetadata(truncate_before=3), None)
    assert "sweepShard" in control(aws, stream_id)
    remover(aws).run(T0 + timedelta(hours=1))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 3]
    page = store.read("ledger", stream_id, 0, 10)
    assert ([e.revision for e in page.events], page.first_revision) == ([3], 3)
    store.delete("ledger", stream_id, 3, "soft")
    assert "sweepShard" in control(aws, stream_id)
    remover(aws).run(T0 + timedelta(hours=2))
    assert revisions(aws.dynamodb, TABLE, stream_id) == [-2, 0, 4]
