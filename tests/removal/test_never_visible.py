"""Property: removal never deletes a visible event, never the head, never what notify_stream has not
processed, and removes every other invisible commit; checked against the visibility rule written out
here independently of eventstore.retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from eventstore.dynamodb.removal import Remover
from eventstore.retention import Retention
from eventstore.table import create_table
from tests.removal.conftest import REGION, TABLE
from tests.removal.items import put_commit, put_control, put_marker, put_summary, revisions

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T0 = datetime(2026, 1, 1, tzinfo=UTC)
optional = st.none() | st.integers(1, 12)


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
        )
        create_table(client, TABLE)
        yield client


def visible(
    revision: int, at: datetime, *, last: int, now: datetime, c: dict[str, int | None], d: Retention
) -> bool:
    """LIFECYCLE_DESIGN: revisions >= floor and, with a max age, committedAt >= now - maxAge."""
    if c["tombstone"]:
        return False
    max_count = c["maxCount"] if c["maxCount"] is not None else d.max_count
    max_age = c["maxAgeSeconds"] if c["maxAgeSeconds"] is not None else d.max_age_seconds
    floor = max(c["deletedBefore"] or 0, c["truncateBefore"] or 0, last - max_count + 1 if max_count else 0)
    return revision >= floor and (max_age is None or at >= now - timedelta(seconds=max_age))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=7),
    minutes=st.lists(st.integers(0, 5), min_size=7, max_size=7),
    control=st.fixed_dictionaries(
        {
            "maxCount": optional,
            "maxAgeSeconds": st.none() | st.sampled_from([60, 300, 900]),
            "truncateBefore": optional,
            "deletedBefore": optional,
            "tombstone": st.booleans(),
        }
    ),
    default=st.builds(Retention, optional, st.none() | st.sampled_from([120, 600])),
    marker=st.sampled_from([None, "deleted", "tombstone"]),
    unnotified=st.integers(0, 3),
    now_minutes=st.integers(0, 40),
)
def test_removal_never_deletes_a_visible_event(
    dynamodb: DynamoDBClient,
    *,
    sizes: list[int],
    minutes: list[int],
    control: dict[str, int | None],
    default: Retention,
    marker: str | None,
    unnotified: int,
    now_minutes: int,
) -> None:
    client = dynamodb
    stream_id = str(uuid.uuid4())
    commits, revision, at = [], 1, T0
    for size, gap in zip(sizes, minutes, strict=False):
        at += timedelta(minutes=gap)
        put_commit(client, TABLE, stream_id, revision, size, at=at)
        commits.append((revision, revision + size - 1, at))
        revision += size
    last = revision - 1
    processed = max(0, last - unnotified)
    put_summary(client, TABLE, stream_id, processed)
    if control["tombstone"]:
        marker = "tombstone"
    if marker is not None:
        put_marker(client, TABLE, stream_id, marker, last, at=at)
    if marker == "deleted":
        control = {**control, "deletedBefore": last + 1}
    put_control(
        client,
        TABLE,
        stream_id,
        maxCount=control["maxCount"],
        maxAgeSeconds=control["maxAgeSeconds"],
        truncateBefore=control["truncateBefore"],
        deletedBefore=control["deletedBefore"],
        tombstonedAt="2026-01-01T00:00:00.000000Z" if control["tombstone"] else None,
    )
    now = T0 + timedelta(minutes=now_minutes)
    Remover(client, TABLE, defaults={"order": default}, sleep=lambda _s: None).run(now)

    left = set(revisions(client, TABLE, stream_id))
    head_first = commits[-1][0]
    expected_gone = set()
    for first, end, committed in commits:
        hidden = not any(
            visible(r, committed, last=last, now=now, c=control, d=default) for r in range(first, end + 1)
        )
        if not hidden or end > processed or (marker is None and first == head_first):
            break
        expected_gone.add(first)
    for first, end, committed in commits:
        if any(
            visible(r, committed, last=last, now=now, c=control, d=default) for r in range(first, end + 1)
        ):
            assert first in left, "a commit with a visible event was removed"
    assert left == {-2, 0} | {c[0] for c in commits} - expected_gone | ({last + 1} if marker else set())
    for revision in left:  # an empty table for the next example: moto reads whole indexes per Query
        client.delete_item(
            TableName=TABLE, Key={"streamId": {"S": stream_id}, "revision": {"N": str(revision)}}
        )
