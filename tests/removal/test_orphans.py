"""The orphan sweep on moto: payload objects no commit references go once older than the grace period.

moto stamps LastModified with the clock, so runs pass a `now` hours ahead of it instead of sleeping.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from eventstore.appends import NewEvent
from eventstore.commits import encode_commit, offload
from eventstore.dynamodb.removal import ORPHAN_GRACE, Limits, PayloadObjects, Remover
from eventstore.timefmt import format_instant
from tests.removal.conftest import PAYLOADS, TABLE, Aws
from tests.removal.items import CALLER, put_control, put_summary

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def remover(aws: Aws, limits: Limits | None = None) -> Remover:
    return Remover(
        aws.dynamodb, TABLE, defaults={}, payloads=PayloadObjects(aws.s3, PAYLOADS), limits=limits or Limits()
    )


def later(by: timedelta = 2 * ORPHAN_GRACE) -> datetime:
    """A run's "now" this long after the objects written so far."""
    return datetime.now(UTC) + by


def put_offloaded_commit(aws: Aws, stream_id: str, revision: int, *, at: datetime = T0) -> str:
    """A one-event commit whose payload is in the bucket, as the append path writes it; the object key."""
    item = encode_commit(
        "order",
        stream_id,
        revision,
        [NewEvent(str(uuid.uuid4()), "Happened", {"n": revision})],
        committed_at=format_instant(at),
        digest=f"digest-{revision}",
        caller=CALLER,
    )
    offloaded = offload(item, threshold=0)
    ((key, body),) = offloaded.objects
    aws.s3.put_object(Bucket=PAYLOADS, Key=key, Body=body)
    aws.dynamodb.put_item(TableName=TABLE, Item=offloaded.item)
    return key


def orphan(aws: Aws, stream_id: str) -> str:
    key = f"{stream_id}/{uuid.uuid4().hex}"
    aws.s3.put_object(Bucket=PAYLOADS, Key=key, Body=b"lost append")
    return key


def keys(aws: Aws) -> set[str]:
    return {o["Key"] for o in aws.s3.list_objects_v2(Bucket=PAYLOADS).get("Contents", [])}


def test_an_old_orphan_goes_and_the_objects_old_commits_reference_stay(aws: Aws) -> None:
    stream_id = str(uuid.uuid4())
    referenced = {put_offloaded_commit(aws, stream_id, revision) for revision in (1, 2)}
    lost = orphan(aws, stream_id)
    report = remover(aws).run(later())
    assert keys(aws) == referenced
    assert lost not in keys(aws)
    assert report.orphans_removed == 1


def test_an_orphan_younger_than_the_grace_period_stays(aws: Aws) -> None:
    stream_id = str(uuid.uuid4())
    lost = orphan(aws, stream_id)
    report = remover(aws).run(later(ORPHAN_GRACE - timedelta(minutes=5)))
    assert keys(aws) == {lost}
    assert report.orphans_removed == 0


def test_a_stream_without_commits_loses_its_old_objects_only(aws: Aws) -> None:
    lost_create, other = str(uuid.uuid4()), str(uuid.uuid4())
    orphan(aws, lost_create)
    orphan(aws, lost_create)
    kept = put_offloaded_commit(aws, other, 1)
    report = remover(aws).run(later())
    assert keys(aws) == {kept}
    assert report.orphans_removed == 2


def test_objects_of_commits_removed_by_retention_go_in_the_same_run(aws: Aws) -> None:
    stream_id = str(uuid.uuid4())
    removed, kept = (put_offloaded_commit(aws, stream_id, revision) for revision in (1, 2))
    put_summary(aws.dynamodb, TABLE, stream_id, 2)
    put_control(aws.dynamodb, TABLE, stream_id, truncateBefore=2)
    report = remover(aws).run(later())
    assert (report.commits_removed, report.orphans_removed) == (1, 1)
    assert keys(aws) == {kept}
    assert removed not in keys(aws)


def test_a_bounded_run_lists_on_where_the_last_one_stopped(aws: Aws) -> None:
    # Key order: stream "a"'s referenced objects, then stream "b"'s orphan.
    referenced = {put_offloaded_commit(aws, "a", revision) for revision in (1, 2)}
    lost = orphan(aws, "b")
    sweeper = remover(aws, Limits(payload_objects_per_run=2))
    assert sweeper.run(later()).orphans_removed == 0
    assert sweeper.run(later()).orphans_removed == 1, "listed on after stream a's objects"
    assert keys(aws) == referenced
    assert lost not in keys(aws)
    orphan(aws, "0")
    assert sweeper.run(later()).orphans_removed == 1, "the bucket's end reached: the next run starts over"
    assert keys(aws) == referenced
