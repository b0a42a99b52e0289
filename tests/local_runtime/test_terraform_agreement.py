"""The pump emulates the event source mapping terraform/ deploys: same defaults, filter and queue name."""

import json
import re
from typing import Any

import pytest
from moto.events.models import EventPattern

from eventstore.table import CONTROL_REVISION, LISTING_MARKER_REVISION, SUMMARY_REVISION, layout
from local_runtime import REPO_ROOT
from local_runtime.deployed import SourceMapping
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


def test_the_filter_passes_only_commits_and_lifecycle_markers() -> None:
    def record(event_name: str, revision: str, *, image: str = "digest") -> dict[str, object]:
        return {
            "eventName": event_name,
            "dynamodb": {"Keys": {"revision": {"N": revision}}, "NewImage": {image: {"S": "abc"}}},
        }

    assert matches_filter(record("INSERT", "1"))
    assert matches_filter(record("INSERT", "17"))
    assert matches_filter(record("MODIFY", "3", image="replaces"))  # a restart replacing a soft delete
    assert not matches_filter(record("MODIFY", "3"))  # commits are never modified otherwise
    assert matches_filter(record("INSERT", "4", image="kind"))  # a lifecycle marker
    assert matches_filter(record("MODIFY", "4", image="kind"))  # a tombstone after a soft delete
    assert not matches_filter(record("INSERT", "0"))
    assert not matches_filter(record("INSERT", "-1"))
    assert not matches_filter(record("MODIFY", "-1"))
    assert not matches_filter(record("MODIFY", "-2", image="streamType"))  # a control item
    assert not matches_filter(record("REMOVE", "3"))
    assert not matches_filter(record("INSERT", "3", image="refs"))  # a feed item


@pytest.mark.skipif(not (TERRAFORM / "notifications.tf").exists(), reason="terraform/ not written yet")
def test_terraforms_filter_also_requires_a_digest_or_a_kind() -> None:
    text = (TERRAFORM / "notifications.tf").read_text()
    filters = re.findall(r'\{\s*events\s*=\s*\[([^\]]*)\],\s*attribute\s*=\s*"(\w+)"\s*\}', text)
    assert [(events.replace(" ", ""), attribute) for events, attribute in filters] == [
        ('"INSERT"', "digest"),
        ('"MODIFY"', "replaces"),
        ('"INSERT","MODIFY"', "kind"),
    ]
    assert re.search(r"NewImage\s*=\s*\{\s*\(filter\.value\.attribute\)\s*=\s*\{\s*S\s*=\s*\[", text)


@pytest.mark.skipif(not (TERRAFORM / "notifications.tf").exists(), reason="terraform/ not written yet")
def test_the_filter_leaves_out_the_revisions_terraforms_filter_does() -> None:
    found = re.search(r'"anything-but"\s*=\s*\[([^\]]*)\]', (TERRAFORM / "notifications.tf").read_text())
    assert found is not None, "terraform/notifications.tf has no anything-but revision filter"
    excluded = set(re.findall(r'"(-?\d+)"', found.group(1)))
    assert excluded == {str(SUMMARY_REVISION), str(LISTING_MARKER_REVISION), str(CONTROL_REVISION)}
    key = layout().range_key
    for revision in excluded:
        record = {"eventName": "INSERT", "dynamodb": {"Keys": {key: {"N": revision}}}}
        assert not matches_filter(record)


def test_the_runtimes_own_names_are_none_a_workspace_can_have() -> None:
    # `make apply WORKSPACE=local` on `make run`'s emulator must not find its table or queues taken.
    main = (TERRAFORM / "main.tf").read_text()
    prefix = re.search(r'\bname\s*=\s*"([a-z-]*)\$\{terraform\.workspace\}"', main)
    workspace = re.search(r'condition\s*=\s*can\(regex\("([^"]+)", terraform\.workspace\)\)', main)
    assert prefix is not None, "terraform/main.tf names resources differently"
    assert workspace is not None, "terraform/main.tf checks workspace names differently"
    name = Settings().name
    clashes = name.startswith(prefix.group(1)) and re.fullmatch(
        workspace.group(1).replace("\\\\", "\\"), name.removeprefix(prefix.group(1))
    )
    assert not clashes, f"{name}-* can be a Terraform workspace's names"


def test_the_mapping_pattern_as_lambda_applies_it_agrees_with_the_pump_filter() -> None:
    # What notifications.tf renders (jsonencode), evaluated the way --from-terraform evaluates a mapping.
    key = layout().range_key
    patterns = [
        json.dumps(
            {
                "eventName": events,
                "dynamodb": {
                    "Keys": {key: {"N": [{"anything-but": ["0", "-1", "-2"]}]}},
                    "NewImage": {attribute: {"S": [{"exists": True}]}},
                },
            }
        )
        for events, attribute in (
            (["INSERT"], "digest"),
            (["MODIFY"], "replaces"),
            (["INSERT", "MODIFY"], "kind"),
        )
    ]
    mapping = SourceMapping(
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:notify",
        settings=PumpSettings(),
        patterns=tuple(EventPattern.load(pattern) for pattern in patterns),
        on_failure_queue_url=None,
        start_at_latest=False,
    )
    images: tuple[dict[str, Any], ...] = (
        {},
        {"digest": {"S": "d"}},
        {"digest": {"S": "d"}, "replaces": {"S": "w"}},
        {"refs": {"S": "[]"}},
        {"kind": {"S": "deleted"}},
        {"streamType": {"S": "order"}},
    )
    for event_name in ("INSERT", "MODIFY", "REMOVE"):
        for revision in ("-2", "-1", "0", "1", "17"):
            for image in images:
                change = {"Keys": {key: {"N": revision}}, "NewImage": image}
                record = {"eventName": event_name, "dynamodb": change}
                assert mapping.matches(record) == matches_filter(record), record
