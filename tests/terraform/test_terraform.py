"""The Terraform stack: static checks, then apply → clean re-plan → read-back → rebuild → destroy on moto.

The tests after `test_replan_is_clean` read the applied stack back through boto3; the destroy test is
last in the file (pytest keeps file order) and takes the stack down.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.terraform.stack import FUNCTIONS, PAGER_TOPIC_ARN, ROOT, Stack, Terraform

if TYPE_CHECKING:
    from collections.abc import Iterable

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

LISTING_INDEX = json.loads((ROOT / "shared" / "eventstore" / "table.json").read_text())[
    "global_secondary_indexes"
][0]["name"]
ROUTES = json.loads((ROOT / "shared" / "eventstore" / "routes.json").read_text())["routes"]
SNAPSHOTS = json.loads((ROOT / "shared" / "eventstore" / "table.json").read_text())["snapshots"]
XRAY_ACTIONS = {"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
DATA_KEY_USE = ("kms:GenerateDataKey", "kms:Decrypt")
# docs/design.md, "IAM actions each function needs" (plus every function's own logs and X-Ray).
DESIGN_ACTIONS = {
    "create_stream": {
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:GetItem",
        *DATA_KEY_USE,
        "s3:PutObject",
    },
    "append_event": {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:GetItem", *DATA_KEY_USE, "s3:PutObject"},
    "read_events": {"dynamodb:Query", "dynamodb:GetItem", "kms:Decrypt", "s3:GetObject"},
    "erase_data_subject": {"dynamodb:UpdateItem"},
    "describe_data_subject": {"dynamodb:GetItem"},
    "read_feed": {
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "kms:Decrypt",
        "s3:GetObject",
    },
    "checkpoints": {"dynamodb:GetItem", "dynamodb:PutItem"},
    "snapshots": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", *DATA_KEY_USE},
    "delete_stream": {
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    "stream_metadata": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"},
    "list_streams": {"dynamodb:Query", "dynamodb:BatchGetItem", "kms:GenerateMac"},
    "liveness_check": set(),
    "notify_stream": {
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:DescribeStream",
        "dynamodb:ListStreams",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "sns:Publish",
        "sqs:SendMessage",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    },
    # With archive_enabled (the test stack's): the archive's objects and key.
    "remove_expired": {
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:DeleteObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    },
}
# What a workspace on AWS must say about itself (environment.tf); the test workspaces are emulated.
AWS_ENVIRONMENT_VARS = ["-var=environment=staging", '-var=allowed_account_ids=["222222222222"]']
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    found = document["Statement"]
    return [found] if isinstance(found, dict) else found


def function_name(stack: Stack, key: str) -> str:
    return f"{stack.name}-{key.replace('_', '-')}"


def rest_api_id(stack: Stack) -> str:
    return str(stack.outputs["api_execution_arn"]).rsplit(":", 1)[1]


def test_fmt_and_validate(initialised_module: Terraform) -> None:
    fmt = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(ROOT / "terraform")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, f"terraform fmt would change:\n{fmt.stdout}"
    result = initialised_module.run("validate", "-no-color")
    assert "Success" in result.stdout


def test_functions_log_json_on_aws(initialised_module: Terraform) -> None:
    """moto drops a function's LoggingConfig, so the module sets it (functions.tf, `logging_config`) on AWS
    only, or a stack on moto would re-plan forever; the applied stack cannot show it: ask the module."""

    def log_formats(endpoint: str) -> list[str]:
        console = ["terraform", f"-chdir={initialised_module.directory}", "console", "-no-color"]
        result = subprocess.run(
            [*console, f"-var=aws_endpoint_url={endpoint}", *AWS_ENVIRONMENT_VARS],
            input="jsonencode(local.function_log_formats)\n",
            env=initialised_module.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        answer = [line for line in result.stdout.splitlines() if line.strip()][-1]
        formats: list[str] = json.loads(json.loads(answer))
        return formats

    assert log_formats("") == ["JSON"]
    assert log_formats("http://127.0.0.1:4566") == []


def test_snap_start_is_an_option_for_published_versions_on_aws(initialised_module: Terraform) -> None:
    """moto reads SnapStart back as off whatever was sent, so the module sends it to AWS only
    (deploys.tf) and an applied stack cannot show it: ask the module, as the production example sets it."""

    def snap_start(*options: str) -> list[str]:
        console = ["terraform", f"-chdir={initialised_module.directory}", "console", "-no-color"]
        result = subprocess.run(
            [*console, *options],
            input="jsonencode(local.function_snap_start)\n",
            env=initialised_module.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        answer = [line for line in result.stdout.splitlines() if line.strip()][-1]
        settings: list[str] = json.loads(json.loads(answer))
        return settings

    assert snap_start() == []
    assert snap_start("-var=snap_start=true") == ["PublishedVersions"]
    assert snap_start("-var=snap_start=true", "-var=aws_endpoint_url=http://127.0.0.1:4566") == []
    assert snap_start("-var-file=env/production.tfvars.example") == ["PublishedVersions"]


def test_checkov_passes_and_every_skip_has_a_reason() -> None:
    checkov = Path(sys.executable).parent / "checkov"
    options = ["--framework", "terraform", "--skip-download", "--quiet", "--compact"]
    result = subprocess.run(
        [str(checkov), "--directory", str(ROOT / "terraform"), *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    for path in (ROOT / "terraform").glob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_AWS_\d+:\S.{10,}", line), (
                    f"{path.name}: {line.strip()}"
                )


def test_replan_is_clean(stack: Stack) -> None:
    started = time.monotonic()
    plan = stack.terraform.run(
        "plan", "-detailed-exitcode", "-input=false", "-no-color", *stack.terraform.var_args, check=False
    )
    stack.timings["plan"] = time.monotonic() - started
    assert plan.returncode == 0, f"perpetual diff or error:\n{plan.stdout[-6000:]}\n{plan.stderr}"


def test_every_method_requires_iam_names_its_operation_and_proxies_to_its_function(stack: Stack) -> None:
    client = stack.apigateway()
    api_id = rest_api_id(stack)
    seen = set()
    for resource in client.get_resources(restApiId=api_id, limit=500)["items"]:
        for method in resource.get("resourceMethods", {}):
            details = client.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=method)
            assert details["authorizationType"] == "AWS_IAM", (method, resource["path"])
            integration = details["methodIntegration"]
            assert integration["type"] == "AWS_PROXY"
            seen.add((method, resource["path"], details.get("operationName"), integration["uri"]))
    expected = {
        (route["method"], route["path"], route["operation"], function_name(stack, route["function"]))
        for route in ROUTES
    }
    assert {(method, path, name) for method, path, name, _ in seen} == {(m, p, o) for m, p, o, _ in expected}
    for method, path, _, function in expected:
        assert any(
            m == method and p == path and f":function:{function}:live/" in uri for m, p, _, uri in seen
        )


def test_stage_traces_logs_json_and_throttles(stack: Stack) -> None:
    stage = stack.apigateway().get_stage(restApiId=rest_api_id(stack), stageName="v1")
    assert stage["tracingEnabled"] is True
    access = stage["accessLogSettings"]
    assert access["destinationArn"].endswith(f"log-group:/aws/apigateway/{stack.name}/access")
    assert "$context.requestId" in json.loads(access["format"]).values()
    settings = stage["methodSettings"]["*/*"]
    assert settings["metricsEnabled"] is True
    # "*/*" limits each method on its own: each gets its share, so together they accept the variable's
    # 100 requests per second (and burst 200), not 100 per method.
    methods = len(ROUTES)
    assert settings["throttlingRateLimit"] == math.floor(100 * 100 / methods) / 100
    assert settings["throttlingBurstLimit"] == 200 // methods
    assert 100 - 1 <= settings["throttlingRateLimit"] * methods <= 100
    assert stack.outputs["api_url"].endswith("/v1")


def test_functions_runtime_tracing_and_environment(stack: Stack) -> None:
    client = stack.awslambda()
    key_id = None
    for key in FUNCTIONS:
        config = client.get_function_configuration(FunctionName=function_name(stack, key))
        assert config["Runtime"] == "python3.13"
        assert config["Architectures"] == ["arm64"]
        assert config["Handler"] == "handler.handler"
        assert config["TracingConfig"]["Mode"] == "Active"
        assert len(config["Layers"]) == 1
        env = config["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == stack.name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "EventStore"
        assert ("EVENTSTORE_TABLE_NAME" in env) == (key != "liveness_check")
        assert ("EVENTSTORE_TOPIC_ARN" in env) == (key == "notify_stream")
        keyed = {"create_stream", "append_event", "read_events", "read_feed", "snapshots"}
        assert ("EVENTSTORE_DATA_KEY_KMS_KEY_ID" in env) == (key in keyed)
        subjects = keyed | {"erase_data_subject", "describe_data_subject"}
        assert ("EVENTSTORE_KEYS_TABLE_NAME" in env) == (key in subjects)
        # Snapshots never offload; remove_expired deletes payload objects (deleted streams', orphans).
        assert ("EVENTSTORE_PAYLOAD_BUCKET" in env) == (key in (keyed - {"snapshots"}) | {"remove_expired"})
        # Writers and notify_stream mark late commits for listing, so they need the settle window too.
        listing_aware = {"create_stream", "append_event", "list_streams", "notify_stream"}
        assert ("EVENTSTORE_LISTING_SETTLE_SECONDS" in env) == (key in listing_aware)
        # What a read shows depends on its type's retention defaults (stream_type_retention).
        retention = env.get("EVENTSTORE_RETENTION_DEFAULTS")
        if key in {"read_events", "read_feed", "remove_expired"}:
            # conftest.RETENTION's types, the removal tests' `order` included.
            assert json.loads(retention or "") == {
                "audit": {"maxCount": 3},
                "session": {"maxAgeSeconds": 60},
                "order": {"maxAgeSeconds": 86400},
            }
        else:
            assert retention is None
        if key == "list_streams":
            key_id = env["EVENTSTORE_PAGE_KEY_KMS_KEY_ID"]
    assert key_id is not None
    metadata = stack.kms().describe_key(KeyId=key_id)["KeyMetadata"]
    assert (metadata["KeySpec"], metadata["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")


def test_callers_invoke_the_live_alias_of_the_newest_version(stack: Stack) -> None:
    client = stack.awslambda()
    for key in FUNCTIONS:
        name = function_name(stack, key)
        versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]
        published = [int(version) for version in versions if version != "$LATEST"]
        assert published, f"{key} has no published version"
        alias = client.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == str(max(published))
    for route in ROUTES:
        function = function_name(stack, route["function"])
        policy = json.loads(client.get_policy(FunctionName=function, Qualifier="live")["Policy"])
        assert any(
            statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
            and statement["Resource"].endswith(f":function:{function}:live")
            for statement in statements(policy)
        ), route


def test_table_from_the_shared_definition(stack: Stack) -> None:
    definition = json.loads((ROOT / "shared" / "eventstore" / "table.json").read_text())
    dynamodb = stack.dynamodb()
    table = dynamodb.describe_table(TableName=stack.outputs["table_name"])["Table"]
    assert {(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]} == {
        (definition["hash_key"], "HASH"),
        (definition["range_key"], "RANGE"),
    }
    assert table["StreamSpecification"]["StreamViewType"] == definition["stream_view_type"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == [
        index["name"] for index in definition["global_secondary_indexes"]
    ]
    backups = dynamodb.describe_continuous_backups(TableName=table["TableName"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_event_source_mapping_settings(stack: Stack) -> None:
    client = stack.awslambda()
    notify = function_name(stack, "notify_stream")
    function_arn = client.get_function_configuration(FunctionName=notify)["FunctionArn"]
    live = client.get_alias(FunctionName=notify, Name="live")["FunctionVersion"]
    mappings = [
        mapping
        for mapping in client.list_event_source_mappings()["EventSourceMappings"]
        if mapping["FunctionArn"].startswith(f"{function_arn}:")
    ]
    assert len(mappings) == 1
    mapping = mappings[0]
    # The live alias on AWS; moto reads it back as the version it points at (deploys.tf).
    assert mapping["FunctionArn"] == f"{function_arn}:{live}"
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 10
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue_arn = stack.sqs().get_queue_attributes(
        QueueUrl=stack.outputs["on_failure_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    # New commits, restarts of soft-deleted streams (they name the marker they replace) and lifecycle markers.
    assert patterns == [
        {
            "eventName": events,
            "dynamodb": {
                "Keys": {"revision": {"N": [{"anything-but": ["0", "-1", "-2"]}]}},
                "NewImage": {attribute: {"S": [{"exists": True}]}},
            },
        }
        for events, attribute in (
            (["INSERT"], "digest"),
            (["MODIFY"], "replaces"),
            (["INSERT", "MODIFY"], "kind"),
        )
    ]


def test_alarms_and_dashboard_exist(stack: Stack) -> None:
    cloudwatch = stack.cloudwatch()
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=stack.name)["MetricAlarms"]
    names = {alarm["AlarmName"] for alarm in alarms}
    expected = {f"{stack.name}-api-5xx-rate", f"{stack.name}-notify-iterator-age", f"{stack.name}-feed-lag"}
    expected |= {f"{stack.name}-notify-failures-not-empty", f"{stack.name}-listing-marks-failed"}
    expected |= {
        f"{function_name(stack, key)}-{kind}"
        for key in FUNCTIONS
        for kind in ("errors", "throttles", "duration-near-timeout")
    }
    expected |= {
        f"{stack.name}-{name}"
        for name in (
            "api-p99-latency", "api-403-rate", "api-429-rate", "table-throttles",
            f"index-{LISTING_INDEX}-throttles", "table-system-errors", "notifications-failed",
            "notification-lag-p99", "sns-delivery-failures", "notify-failures-oldest",
        )
    }  # fmt: skip
    assert expected <= names, expected - names
    alarm_topic = stack.outputs["alarm_topic_arn"]
    for alarm in alarms:
        # Any topic, an existing pager's too; M of N minutes, never one bad minute (but a scheduled run's
        # failure, which shows in one minute only: terraform/removal.tf).
        assert sorted(alarm["AlarmActions"]) == sorted([alarm_topic, PAGER_TOPIC_ARN]), alarm["AlarmName"]
        once = alarm["AlarmName"] == f"{stack.name}-archive-failures"
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (1 if once else 3, 5), alarm[
            "AlarmName"
        ]
        assert "docs/operations.md" in alarm["AlarmDescription"]
    by_name = {alarm["AlarmName"]: alarm for alarm in alarms}
    # 80% of the timeout: 10 s for the API functions, 60 s for notify_stream.
    assert by_name[f"{function_name(stack, 'read_events')}-duration-near-timeout"]["Threshold"] == 8000
    assert by_name[f"{function_name(stack, 'notify_stream')}-duration-near-timeout"]["Threshold"] == 48000
    index_alarm = by_name[f"{stack.name}-index-{LISTING_INDEX}-throttles"]
    dimensions = [
        {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}
        for query in index_alarm["Metrics"]
        if "MetricStat" in query
    ]
    assert len(dimensions) == 2
    assert all(d.get("GlobalSecondaryIndexName") == LISTING_INDEX for d in dimensions)
    filters = stack.logs().describe_metric_filters(logGroupName=f"/aws/apigateway/{stack.name}/access")
    patterns = {
        f["metricTransformations"][0]["metricName"]: f["filterPattern"] for f in filters["metricFilters"]
    }
    assert patterns == {"ApiStatus403": '{ $.status = "403" }', "ApiStatus429": '{ $.status = "429" }'}

    body = json.loads(cloudwatch.get_dashboard(DashboardName=stack.name)["DashboardBody"])
    lines = [line for widget in body["widgets"] for line in widget["properties"]["metrics"]]
    metrics = {line[1] for line in lines if isinstance(line[0], str)}
    expressions = {line[0]["expression"] for line in lines if isinstance(line[0], dict)}
    assert {"5XXError", "4XXError", "Latency", "Errors", "Throttles", "Duration", "IteratorAge"} <= metrics
    assert {"ConditionalCheckFailedRequests", "ApproximateNumberOfMessagesVisible"} <= metrics
    assert {"AppendsAccepted", "AppendConflicts", "IdempotentReplays", "NotificationsPublished"} <= metrics
    assert {"ListingMarksFailed", "SystemErrors", "ApiStatus403", "ApiStatus429"} <= metrics
    assert {"FeedLagMilliseconds", "FeedItemsWritten", "FeedWriteConflicts"} <= metrics
    feed_lag = next(a for a in alarms if a["AlarmName"] == f"{stack.name}-feed-lag")
    assert (feed_lag["MetricName"], feed_lag["ExtendedStatistic"]) == ("FeedLagMilliseconds", "p99")
    # Rates where an operator needs rates, and the index's throttles on their own lines.
    assert "IF(req > 0, 100 * e5 / req, 0)" in expressions
    assert any(expression.startswith("IF(i") and "100 * e" in expression for expression in expressions)
    assert any("GlobalSecondaryIndexName" in line for line in lines if isinstance(line[0], str))


def test_roles_are_least_privilege(stack: Stack) -> None:
    iam = stack.iam()
    roles = [
        role["RoleName"] for role in iam.list_roles()["Roles"] if role["RoleName"].startswith(stack.name)
    ]
    assert {function_name(stack, key) for key in FUNCTIONS} <= set(roles)
    for role in roles:
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        actions: set[str] = set()
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            for statement in statements(document):  # type: ignore[arg-type]
                granted = set(as_list(statement["Action"]))
                assert not any("*" in action for action in granted), (role, statement)
                if "*" in as_list(statement["Resource"]):
                    assert granted == XRAY_ACTIONS, (role, statement)
                conditions = {
                    (test, key): sorted(as_list(values))
                    for test, keys in statement.get("Condition", {}).items()
                    for key, values in keys.items()
                }
                dynamodb = any(action.startswith("dynamodb:") for action in granted)
                if role == function_name(stack, "checkpoints") and dynamodb:  # checkpoint items only
                    assert conditions == {
                        ("ForAllValues:StringLike", "dynamodb:LeadingKeys"): ["$checkpoint:*"]
                    }, statement
                if role == function_name(stack, "list_streams") and "dynamodb:BatchGetItem" in granted:
                    # key attributes only, never events
                    assert conditions == {
                        ("ForAllValues:StringEquals", "dynamodb:Attributes"): [
                            "listingPosition",
                            "revision",
                            "streamId",
                        ],
                        ("StringEqualsIfExists", "dynamodb:Select"): ["SPECIFIC_ATTRIBUTES"],
                    }, statement
                actions |= granted
        for key, needed in DESIGN_ACTIONS.items():
            if role == function_name(stack, key):
                assert actions == needed | LOG_ACTIONS | XRAY_ACTIONS, role
                if key in {"read_events", "list_streams", "describe_data_subject", "read_feed"}:
                    assert not actions & WRITE_ACTIONS


def test_the_snapshots_role_reaches_no_event(stack: Stack) -> None:
    """On the events table: a commit's revision fields (Query) and the snapshot item's attributes (GetItem,
    PutItem) only, always named (a request without a projection would read whole items)."""
    iam = stack.iam()
    role = function_name(stack, "snapshots")
    events_table = stack.dynamodb().describe_table(TableName=stack.outputs["table_name"])["Table"]["TableArn"]
    found: dict[str, list[str]] = {}
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        for statement in statements(document):  # type: ignore[arg-type]
            if events_table not in as_list(statement["Resource"]):
                continue
            conditions = {
                (test, key): sorted(as_list(values))
                for test, keys in statement.get("Condition", {}).items()
                for key, values in keys.items()
            }
            for action in as_list(statement["Action"]):
                found[action] = conditions[("ForAllValues:StringEquals", "dynamodb:Attributes")]
                assert conditions[("StringEqualsIfExists", "dynamodb:Select")] == ["SPECIFIC_ATTRIBUTES"]
                assert len(conditions) == 2, statement
    assert found == {
        "dynamodb:Query": sorted(SNAPSHOTS["commit_attributes"]),
        "dynamodb:GetItem": sorted(SNAPSHOTS["attributes"]),
        "dynamodb:PutItem": sorted(SNAPSHOTS["attributes"]),
    }


def _granted(stack: Stack, key: str) -> set[tuple[str, str]]:
    """(action, resource) pairs of a function's role."""
    iam = stack.iam()
    role = function_name(stack, key)
    pairs: set[tuple[str, str]] = set()
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        for statement in statements(document):  # type: ignore[arg-type]
            pairs |= {(a, r) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return pairs


def _data_access(stack: Stack, key: str) -> set[tuple[str, str]]:
    return {pair for pair in _granted(stack, key) if not pair[0].startswith(("logs:", "xray:"))}


def test_keys_table_and_data_key_for_erasure(stack: Stack) -> None:
    """The keys table apart from the events table (no point-in-time recovery: a restore would undo
    erasures), and a data key only the event functions may use, only with a subject's context."""
    dynamodb = stack.dynamodb()
    keys_name = stack.outputs["keys_table_name"]
    table = dynamodb.describe_table(TableName=keys_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "dataSubject", "KeyType": "HASH"}]
    assert "StreamSpecification" not in table or not table["StreamSpecification"].get("StreamEnabled")
    backups = dynamodb.describe_continuous_backups(TableName=keys_name)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "DISABLED"

    key_arn = stack.outputs["data_key_arn"]
    kms = stack.kms()
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    uses = {"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    by_sid = {s["Sid"]: s for s in statements(policy)}
    assert not set(as_list(by_sid["AccountAdministersKey"]["Action"])) & uses  # no delegation to IAM
    readers = by_sid["ReadersUnwrapSubjectKeys"]
    assert sorted(as_list(readers["Principal"]["AWS"])) == sorted(
        stack.iam().get_role(RoleName=function_name(stack, name))["Role"]["Arn"]
        for name in ("read_events", "read_feed")
    )
    assert as_list(readers["Action"]) == ["kms:Decrypt"]
    assert sorted(as_list(by_sid["WritersMakeAndUnwrapSubjectKeys"]["Principal"]["AWS"])) == sorted(
        stack.iam().get_role(RoleName=function_name(stack, name))["Role"]["Arn"]
        for name in ("create_stream", "append_event", "snapshots")
    )
    for sid in ("ReadersUnwrapSubjectKeys", "WritersMakeAndUnwrapSubjectKeys"):
        condition = by_sid[sid]["Condition"]
        assert as_list(condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]) == [
            "eventstore:dataSubject"
        ]
        assert condition["Null"] == {"kms:EncryptionContext:eventstore:dataSubject": "false"}

    keys_arn = table["TableArn"]
    events_arn = dynamodb.describe_table(TableName=stack.outputs["table_name"])["Table"]["TableArn"]
    assert _data_access(stack, "erase_data_subject") == {("dynamodb:UpdateItem", keys_arn)}
    assert _data_access(stack, "describe_data_subject") == {("dynamodb:GetItem", keys_arn)}
    for reader in ("read_events", "read_feed"):
        reads = _granted(stack, reader)
        assert ("kms:Decrypt", key_arn) in reads
        assert ("dynamodb:GetItem", keys_arn) in reads
        assert not any(resource == keys_arn and action != "dynamodb:GetItem" for action, resource in reads)
    assert not any(resource == events_arn for _, resource in _granted(stack, "erase_data_subject"))


def test_payload_bucket_is_private_encrypted_unversioned_and_tls_only(stack: Stack) -> None:
    """The bucket of large payloads as applied, read back: SSE-KMS, no public access, no versions, a
    TLS-only policy; writers may only put objects and readers only get them."""
    s3 = stack.s3()
    bucket = stack.outputs["payload_bucket_name"]
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(
        block[name]
        for name in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    (deny,) = statements(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    objects = f"arn:aws:s3:::{bucket}/*"
    for writer in ("create_stream", "append_event"):
        assert {p for p in _granted(stack, writer) if p[0].startswith("s3:")} == {("s3:PutObject", objects)}
    for reader in ("read_events", "read_feed"):
        assert {p for p in _granted(stack, reader) if p[0].startswith("s3:")} == {("s3:GetObject", objects)}


def test_layer_holds_the_package_and_lambda_platform_wheels(stack: Stack) -> None:
    with zipfile.ZipFile(stack.build_dir / "layer.zip") as archive:
        names = archive.namelist()
        dates = {info.date_time for info in archive.infolist()}
        native = {name: archive.read(name)[:20] for name in names if name.endswith(".so")}
    assert names == sorted(names)
    assert dates == {(1980, 1, 1, 0, 0, 0)}
    assert "python/eventstore/table.json" in names
    assert all(name.startswith("python/") for name in names)
    # ELF e_machine (bytes 18-19, little-endian) 0xB7 is AArch64; abi3 modules such as cryptography's
    # do not name the architecture in the file name.
    wrong = [name for name, header in native.items() if header[18:20] != b"\xb7\x00"]
    assert not wrong, f"arm64 functions need aarch64 wheels: {wrong}"
    assert any(name.startswith("python/cryptography/") for name in native)
    # The SBOM names exactly the distributions the layer ships.
    shipped = {
        tuple(name.split("/")[1].removesuffix(".dist-info").rsplit("-", 1))
        for name in names
        if name.count("/") == 2 and name.endswith(".dist-info/METADATA")
    }
    sbom = json.loads((stack.build_dir / "layer.sbom.json").read_text())
    listed = {(c["name"].replace("-", "_").lower(), c["version"]) for c in sbom["components"]}
    assert {(name.lower(), version) for name, version in shipped} == listed
    manifest = json.loads((stack.build_dir / "manifest.json").read_text())
    assert sbom["metadata"]["component"]["hashes"][0]["content"] == manifest["layer"]


def test_changing_one_handler_changes_exactly_that_function(stack: Stack) -> None:
    before = json.loads((stack.build_dir / "manifest.json").read_text())
    assert stack.build() == before, "an unchanged rebuild must reproduce the same zips"
    handler = stack.functions_dir / "read_events" / "handler.py"
    handler.write_text(handler.read_text() + "\n# changed by the terraform test\n")
    after = stack.build()
    changed = {name for name, digest in after["functions"].items() if before["functions"][name] != digest}
    assert changed == {"read_events"}
    assert after["layer"] == before["layer"]

    plan_file = stack.build_dir.parent / "change.tfplan"
    # No refresh: test_replan_is_clean showed the state matches; only the new zip may differ.
    stack.terraform.run(
        "plan", "-refresh=false", "-input=false", "-no-color", f"-out={plan_file}", *stack.terraform.var_args
    )
    shown = json.loads(stack.terraform.run("show", "-json", str(plan_file)).stdout)
    updates = [
        change["address"]
        for change in shown.get("resource_changes", [])
        if change["change"]["actions"] != ["no-op"] and change["mode"] == "managed"
    ]
    # A new version of read_events, and its alias moved to it; API Gateway invokes the alias, so the API
    # itself is not redeployed.
    assert updates == ['aws_lambda_alias.live["read_events"]', 'aws_lambda_function.this["read_events"]']


def test_fifo_topic_and_subscriber_filter_variant(stack: Stack) -> None:
    plan_file = stack.build_dir.parent / "fifo.tfplan"
    variant = ["-var=topic_fifo=true", '-var=subscriber_stream_types=["orders"]']
    stack.terraform.run(
        "plan", "-refresh=false", "-input=false", "-no-color", f"-out={plan_file}",
        *stack.terraform.var_args, *variant,
    )  # fmt: skip
    shown = json.loads(stack.terraform.run("show", "-json", str(plan_file)).stdout)
    planned = {change["address"]: change["change"]["after"] for change in shown["resource_changes"]}
    topic = planned["aws_sns_topic.notifications"]
    assert topic["name"] == f"{stack.name}-notifications.fifo"
    assert (topic["fifo_topic"], topic["content_based_deduplication"]) == (True, False)
    queue = planned["aws_sqs_queue.example_subscriber"]
    assert (queue["name"], queue["fifo_queue"]) == (f"{stack.name}-example-subscriber.fifo", True)
    subscription = planned["aws_sns_topic_subscription.example_subscriber"]
    assert json.loads(subscription["filter_policy"]) == {"StreamType": ["orders"]}
    assert subscription["filter_policy_scope"] == "MessageAttributes"


def test_gateway_answers_are_problem_json(stack: Stack) -> None:
    """API Gateway's own refusals (signature, throttling, timeouts) in the functions' problem shape."""
    responses: dict[str, Any] = {
        item["responseType"]: item
        for item in stack.apigateway().get_gateway_responses(restApiId=rest_api_id(stack))["items"]
    }
    expected = {
        "ACCESS_DENIED": "403",
        "INVALID_SIGNATURE": "403",
        "THROTTLED": "429",
        "INTEGRATION_TIMEOUT": "504",
    }
    for response_type, status in {**expected, "DEFAULT_4XX": None, "DEFAULT_5XX": None}.items():
        response = responses[response_type]
        assert response.get("statusCode") == status, response_type
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        template = response["responseTemplates"]["application/json"]
        rendered = template.replace("$context.error.messageString", '"refused"').replace(
            "$context.path", "/v1/x"
        )
        body = json.loads(rendered)
        assert body["type"].startswith("urn:eventstore:problem:")
        assert body.get("status") == (int(status) if status else None)
        assert (body["detail"], body["instance"]) == ("refused", "/v1/x")
    assert responses["THROTTLED"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_private_endpoint_variant(stack: Stack) -> None:
    """moto cannot read an API back once it has a resource policy: the private variant is planned only."""
    plan_file = stack.build_dir.parent / "private.tfplan"
    stack.terraform.run(
        "plan", "-refresh=false", "-input=false", "-no-color", f"-out={plan_file}",
        *stack.terraform.var_args, '-var=api_private_vpc_endpoint_ids=["vpce-0123456789abcdef0"]',
    )  # fmt: skip
    shown = json.loads(stack.terraform.run("show", "-json", str(plan_file)).stdout)
    planned = {change["address"]: change["change"]["after"] for change in shown["resource_changes"]}
    endpoint = planned["aws_api_gateway_rest_api.this"]["endpoint_configuration"][0]
    assert endpoint["types"] == ["PRIVATE"]
    assert endpoint["vpc_endpoint_ids"] == ["vpce-0123456789abcdef0"]
    policy = json.loads(planned["aws_api_gateway_rest_api_policy.this[0]"]["policy"])
    denies = [s for s in statements(policy) if s["Effect"] == "Deny"]
    assert [d["Resource"] for d in denies] == ["execute-api:/*"]
    assert [d["Condition"] for d in denies] == [
        {"StringNotEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}
    ]


def test_destroy_leaves_nothing(stack: Stack) -> None:
    started = time.monotonic()
    stack.terraform.run(
        "destroy", "-auto-approve", "-refresh=false", "-input=false", "-no-color", *stack.terraform.var_args
    )
    stack.timings["destroy"] = time.monotonic() - started
    sys.stderr.write(f"terraform timings (s): { {k: round(v) for k, v in stack.timings.items()} }\n")
    name = stack.name
    assert not [t for t in stack.dynamodb().list_tables()["TableNames"] if t.startswith(name)]
    assert not [
        f for f in stack.awslambda().list_functions()["Functions"] if f["FunctionName"].startswith(name)
    ]
    assert not [a for a in stack.apigateway().get_rest_apis()["items"] if a["name"] == name]
    assert not [t for t in stack.sns().list_topics()["Topics"] if f":{name}-" in t["TopicArn"]]
    assert not [q for q in stack.sqs().list_queues().get("QueueUrls", []) if f"/{name}-" in q]
    assert not stack.cloudwatch().describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]
    assert not [r for r in stack.iam().list_roles()["Roles"] if r["RoleName"].startswith(name)]
    groups = stack.logs().describe_log_groups()["logGroups"]
    assert not [g for g in groups if name in g["logGroupName"]]
    assert stack.terraform.run("state", "list", check=False).stdout.strip() == ""
