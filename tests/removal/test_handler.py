"""The remove_expired handler: configured from its environment, its "now" from the Scheduled Event, its
report returned and counted as metrics (ArchiveFailures is what the alarm watches)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.removal.conftest import ARCHIVE, TABLE, Aws
from tests.removal.items import put_commit, put_control, put_summary, revisions
from tests.support import ROOT, load_handler

EVENT: dict[str, Any] = json.loads((ROOT / "tests" / "events" / "eventbridge_scheduled.json").read_text())
STREAM = "0b9a4c52-1d2e-4f3a-8b4c-5d6e7f8a9b0c"


@pytest.fixture
def removable(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENTSTORE_RETENTION_DEFAULTS", json.dumps({"order": {"maxAgeSeconds": 86400}}))
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    for revision, day in ((1, 1), (2, 2), (3, 2)):
        put_commit(aws.dynamodb, TABLE, STREAM, revision, 1, at=datetime(2026, 1, day, tzinfo=UTC))
    put_summary(aws.dynamodb, TABLE, STREAM, 3)
    return aws


def test_removes_what_the_scheduled_time_makes_due_and_counts_it(
    removable: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTSTORE_ARCHIVE_BUCKET", ARCHIVE)
    report = load_handler("remove_expired").handler(EVENT, None)
    # The event's time (January 3rd, midnight) puts only January 1st's commit past the day's max age.
    assert (report["commits_removed"], report["spans_archived"]) == (1, 1)
    assert revisions(removable.dynamodb, TABLE, STREAM) == [0, 2, 3]
    metrics = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (metrics["RemovedEvents"], metrics["ArchiveFailures"]) == ([1.0], [0.0])
    assert metrics["RemovedOrphanObjects"] == [0.0]


def test_an_archive_that_fails_removes_nothing_and_is_counted(
    removable: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTSTORE_ARCHIVE_BUCKET", "no-such-bucket")
    put_control(removable.dynamodb, TABLE, STREAM, truncateBefore=3)
    report = load_handler("remove_expired").handler(EVENT, None)
    assert (report["commits_removed"], report["archive_failures"]) == (0, 1)
    assert revisions(removable.dynamodb, TABLE, STREAM) == [-2, 0, 1, 2, 3]
    metrics = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert metrics["ArchiveFailures"] == [1.0]
