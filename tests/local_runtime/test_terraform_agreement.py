"""The pump emulates the event source mapping terraform/ deploys: same defaults, filter and queue name."""

import re

import pytest

from eventstore.table import LISTING_MARKER_REVISION, SUMMARY_REVISION, layout
from local_runtime import REPO_ROOT
from local_runtime.pump import matches_filter
from local_runtime.settings import PumpSettings, Settings

TERRAFORM = REPO_ROOT / "terraform"


def _variable_default(name: str) -> float:
    text = (TERRAFORM / "variables.tf").read_text()
    found = re.search(rf'variable "{name}" \{{.*?\n\s*default\s*=\s*(-?[\d.]+)', text, re.DOTALL)
    assert found is not None, f"terraform/variables.tf has no numeric default for {name}"
    return float(found.group(1))


@pytest.mark.skipif(not (TERRAFORM / "variables.tf").exists(), reason="terraform/ not written yet")
def test_pump_defaults_are_the_mappings() -> None:
    pump = PumpSettings()
    assert pump.batch_size == _variable_default("notify_batch_size")
    assert pump.batching_window_seconds == _variable_default("notify_batching_window_seconds")
    assert pump.maximum_retry_attempts == _variable_default("notify_maximum_retry_attempts")
    assert pump.maximum_record_age_seconds == _variable_default("notify_maximum_record_age_seconds")
    notifications = (TERRAFORM / "notifications.tf").read_text()
    assert re.search(r"bisect_batch_on_function_error\s*=\s*true", notifications)
    assert '"ReportBatchItemFailures"' in notifications
    assert '"${local.name}-notify-failures"' in notifications
    assert Settings().on_failure_queue_name.endswith("-notify-failures")


def test_the_filter_passes_only_inserted_commits() -> None:
    def record(event_name: str, revision: str, *, digest: bool = True) -> dict[str, object]:
        image: dict[str, object] = {"digest": {"S": "abc"}} if digest else {"refs": {"L": []}}
        return {
            "eventName": event_name,
            "dynamodb": {"Keys": {"revision": {"N": revision}}, "NewImage": image},
        }

    assert matches_filter(record("INSERT", "1"))
    assert matches_filter(record("INSERT", "17"))
    assert not matches_filter(record("INSERT", "0"))
    assert not matches_filter(record("INSERT", "-1"))
    assert not matches_filter(record("MODIFY", "3"))
    assert not matches_filter(record("REMOVE", "3"))
    assert not matches_filter(record("INSERT", "3", digest=False))  # a feed item


@pytest.mark.skipif(not (TERRAFORM / "notifications.tf").exists(), reason="terraform/ not written yet")
def test_terraforms_filter_also_requires_a_digest() -> None:
    text = (TERRAFORM / "notifications.tf").read_text()
    assert re.search(r"NewImage\s*=\s*\{\s*digest\s*=\s*\{\s*S\s*=\s*\[\{\s*exists\s*=\s*true", text)


@pytest.mark.skipif(not (TERRAFORM / "notifications.tf").exists(), reason="terraform/ not written yet")
def test_the_filter_leaves_out_the_revisions_terraforms_filter_does() -> None:
    found = re.search(r'"anything-but"\s*=\s*\[([^\]]*)\]', (TERRAFORM / "notifications.tf").read_text())
    assert found is not None, "terraform/notifications.tf has no anything-but revision filter"
    excluded = set(re.findall(r'"(-?\d+)"', found.group(1)))
    assert excluded == {str(SUMMARY_REVISION), str(LISTING_MARKER_REVISION)}
    key = layout().range_key
    for revision in excluded:
        record = {"eventName": "INSERT", "dynamodb": {"Keys": {key: {"N": revision}}}}
        assert not matches_filter(record)
