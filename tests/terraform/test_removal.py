"""The data-lifecycle resources of the applied stack (archive_enabled, a type default), read back with boto3:
the archive bucket's settings, the schedule and the removal function."""

from __future__ import annotations

import json

import pytest

from tests.terraform.stack import Stack

pytestmark = [pytest.mark.terraform, pytest.mark.slow]


def test_archive_bucket_is_encrypted_versioned_private_tls_only_and_moves_to_a_cheaper_class(
    stack: Stack,
) -> None:
    s3 = stack.s3()
    bucket = stack.outputs["archive_bucket"]
    assert bucket.startswith(stack.name)
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    key = stack.kms().describe_key(KeyId=default["KMSMasterKeyID"])["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER"
    assert stack.kms().get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(
        block[name]
        for name in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER_IR"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_removal_runs_on_a_schedule_with_the_retention_defaults_and_the_archive(stack: Stack) -> None:
    events = stack.events()
    rule = events.describe_rule(Name=f"{stack.name}-removal")
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    function = stack.outputs["removal_function_name"]
    assert f":function:{function}" in target["Arn"]
    lambda_client = stack.awslambda()
    config = lambda_client.get_function_configuration(FunctionName=function)
    env = config["Environment"]["Variables"]
    assert json.loads(env["EVENTSTORE_RETENTION_DEFAULTS"]) == {
        "audit": {"maxCount": 3},
        "session": {"maxAgeSeconds": 60},
        "order": {"maxAgeSeconds": 86400},
    }
    assert env["EVENTSTORE_ARCHIVE_BUCKET"] == stack.outputs["archive_bucket"]
    assert env["EVENTSTORE_PAYLOAD_BUCKET"] == stack.outputs["payload_bucket_name"]
    assert config["Timeout"] == 300
    assert lambda_client.get_function_concurrency(FunctionName=function)["ReservedConcurrentExecutions"] == 1
    policy = json.loads(lambda_client.get_policy(FunctionName=function, Qualifier="live")["Policy"])
    assert any(
        statement["Principal"] == {"Service": "events.amazonaws.com"}
        and statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
        for statement in policy["Statement"]
    )
    alarm = stack.cloudwatch().describe_alarms(AlarmNames=[f"{stack.name}-archive-failures"])["MetricAlarms"]
    assert [(a["MetricName"], a["Threshold"], a["DatapointsToAlarm"]) for a in alarm] == [
        ("ArchiveFailures", 0, 1)
    ]


def test_the_table_has_the_sparse_removal_index(stack: Stack) -> None:
    table = stack.dynamodb().describe_table(TableName=stack.outputs["table_name"])["Table"]
    index = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}["dueForRemoval"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["sweepShard", "streamId"]
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"
