"""Customer-managed keys (keys.tf), planned on the applied stack: moto cannot re-encrypt a live table,
and the key and role policies are what matters, so the plans are read instead of an apply."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.terraform.stack import REGION, Stack, Terraform

if TYPE_CHECKING:
    from collections.abc import Iterable

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

ACCOUNT = "123456789012"
TABLE_USERS = {
    "append_event", "checkpoints", "create_stream", "delete_stream", "describe_data_subject",
    "erase_data_subject", "list_streams", "notify_stream", "read_events", "read_feed", "remove_expired",
    "snapshots", "stream_metadata",
}  # fmt: skip
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/"
# What docs/design.md gives each role on the tables: these write items (to the events or the keys table).
TABLE_WRITERS = {
    "append_event", "checkpoints", "create_stream", "delete_stream", "erase_data_subject", "notify_stream",
    "remove_expired", "snapshots", "stream_metadata",
}  # fmt: skip
TABLE_WRITE_ACTIONS = {
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
}


def planned(stack: Stack, name: str, *variables: str) -> dict[str, Any]:
    plan_file = stack.build_dir.parent / f"{name}.tfplan"
    stack.terraform.run(
        "plan", "-refresh=false", "-input=false", "-no-color", f"-out={plan_file}",
        *stack.terraform.var_args, *variables,
    )  # fmt: skip
    shown = json.loads(stack.terraform.run("show", "-json", str(plan_file)).stdout)
    return {change["address"]: change["change"]["after"] for change in shown["resource_changes"]}


def statements(policy: str | dict[str, Any]) -> Iterable[dict[str, Any]]:
    found = (json.loads(policy) if isinstance(policy, str) else policy)["Statement"]
    return [found] if isinstance(found, dict) else found


def as_set(value: str | list[str]) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def test_created_table_key_is_usable_only_by_the_table_users(stack: Stack) -> None:
    after = planned(stack, "table-key", "-var=create_table_kms_key=true")
    policy = list(statements(after["aws_kms_key.table[0]"]["policy"]))
    uses = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
    by_sid = {statement["Sid"]: statement for statement in policy}
    # The account administers the key but may not use it, whatever IAM policies say.
    assert not as_set(by_sid["AccountAdministersKeyOnly"]["Action"]) & uses
    users = by_sid["TableUsersThroughDynamoDB"]
    roles = as_set(users["Condition"]["ArnEquals"]["aws:PrincipalArn"])
    assert roles == {f"arn:aws:iam::{ACCOUNT}:role/{stack.name}-{n.replace('_', '-')}" for n in TABLE_USERS}
    assert users["Condition"]["StringEquals"]["kms:ViaService"] == f"dynamodb.{REGION}.amazonaws.com"
    assert [s["Sid"] for s in policy if as_set(s["Action"]) & uses] == ["TableUsersThroughDynamoDB"]


def test_brought_keys_reach_exactly_the_resources_that_need_them(stack: Stack) -> None:
    keys = {name: f"{KEY}{name}" for name in ("table", "logs", "queues", "environment")}
    after = planned(
        stack, "keys",
        f"-var=table_kms_key_arn={keys['table']}", f"-var=logs_kms_key_arn={keys['logs']}",
        f"-var=queues_kms_key_arn={keys['queues']}",
        f"-var=lambda_environment_kms_key_arn={keys['environment']}",
    )  # fmt: skip
    assert after["aws_dynamodb_table.events"]["server_side_encryption"][0]["kms_key_arn"] == keys["table"]
    log_groups = [v for k, v in after.items() if k.startswith("aws_cloudwatch_log_group.")]
    assert log_groups
    assert {group["kms_key_id"] for group in log_groups} == {keys["logs"]}
    for queue in ("notify_failures", "example_subscriber"):
        assert after[f"aws_sqs_queue.{queue}"]["kms_master_key_id"] == keys["queues"]
    for name in (*TABLE_USERS, "liveness_check"):
        assert after[f'aws_lambda_function.this["{name}"]']["kms_key_arn"] == keys["environment"]


def test_environment_key_reaches_each_role(stack: Stack) -> None:
    """Only the functions change here, so the roles' policy documents are known at plan time (with the
    table, queue or log keys they are read during apply, after the resources they name change)."""
    key = f"{KEY}environment"
    after = planned(stack, "environment-key", f"-var=lambda_environment_kms_key_arn={key}")
    for name in (*TABLE_USERS, "liveness_check"):
        granted = [
            as_set(statement["Action"])
            for statement in statements(after[f'aws_iam_role_policy.function["{name}"]']["policy"])
            if key in as_set(statement["Resource"])
        ]
        assert granted == [{"kms:Decrypt"}], name


def test_every_role_that_writes_the_tables_may_encrypt_with_the_created_key(stack: Stack) -> None:
    """Applied in a workspace of its own (moto cannot re-encrypt the stack's live table, and a plan reads
    the roles' policies only during apply once the table changes): the tables are created under the
    created key, with the roles and their policies. A role that writes items needs kms:Encrypt and
    kms:GenerateDataKey on the key (through DynamoDB); one that only reads gets Decrypt and DescribeKey."""
    workspace = f"tablekey-{uuid.uuid4().hex[:8]}"
    terraform = Terraform(
        stack.terraform.directory,
        stack.terraform.env | {"TF_WORKSPACE": workspace},
        [*stack.terraform.var_args, "-var=create_table_kms_key=true"],
    )
    stack.terraform.run("workspace", "new", workspace, "-no-color")
    stack.terraform.run("workspace", "select", stack.workspace, "-no-color")
    # Only the roles' policies and what they name (tables, keys, log groups...): no API, no functions.
    targets = [
        f"-target={address}"
        for address in (
            "aws_iam_role_policy.function",
            "aws_kms_alias.table",
            "terraform_data.table_users_complete",
        )
    ]
    try:
        terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *targets, *terraform.var_args)
        name = f"eventstore-{workspace}"
        key = stack.kms().describe_key(KeyId=f"alias/{name}-table")["KeyMetadata"]["Arn"]
        tables = {f"{name}-events", f"{name}-data-subject-keys"}
        dynamodb = stack.dynamodb()
        for table in tables:
            described = dynamodb.describe_table(TableName=table)["Table"]
            assert described["SSEDescription"]["KMSMasterKeyArn"] == key, table
        table_arns = {dynamodb.describe_table(TableName=table)["Table"]["TableArn"] for table in tables}
        iam = stack.iam()
        writers: set[str] = set()
        for function in (*TABLE_USERS, "liveness_check"):
            document = iam.get_role_policy(
                RoleName=f"{name}-{function.replace('_', '-')}", PolicyName="least-privilege"
            )["PolicyDocument"]
            found = list(statements(document))  # type: ignore[arg-type]
            if any(
                as_set(s["Action"]) & TABLE_WRITE_ACTIONS and as_set(s["Resource"]) & table_arns
                for s in found
            ):
                writers.add(function)
            on_key = [s for s in found if key in as_set(s["Resource"])]
            uses = set().union(*(as_set(s["Action"]) for s in on_key))
            read = {"kms:Decrypt", "kms:DescribeKey"}
            expected = read | {"kms:Encrypt", "kms:GenerateDataKey"} if function in writers else read
            assert uses == (expected if function in TABLE_USERS else set()), function
            for statement in on_key:
                condition = statement["Condition"]["StringEquals"]["kms:ViaService"]
                assert condition == f"dynamodb.{REGION}.amazonaws.com", function
        # The roles read back write exactly where the design says (so the check above is not vacuous).
        assert writers == TABLE_WRITERS
    finally:
        terraform.run(
            "destroy", "-auto-approve", "-input=false", "-no-color", *terraform.var_args, check=False
        )


@pytest.mark.parametrize("key", ["create_table_kms_key=true", f"table_kms_key_arn={KEY}table"])
def test_a_table_user_left_out_of_the_key_list_fails_the_plan(stack: Stack, key: str) -> None:
    """Created or brought, a table key reaches only the functions keys.tf lists: forgetting one that uses
    the table fails the plan instead of a request in production."""
    keys_tf = stack.terraform.directory / "keys.tf"
    original = keys_tf.read_text()
    keys_tf.write_text(original.replace('"checkpoints", ', "", 1))
    try:
        assert keys_tf.read_text() != original
        result = stack.terraform.run(
            "plan", "-refresh=false", "-input=false", "-no-color", *stack.terraform.var_args, f"-var={key}",
            check=False,
        )  # fmt: skip
    finally:
        keys_tf.write_text(original)
    assert result.returncode != 0
    assert "is missing from local.table_users" in " ".join((result.stdout + result.stderr).split())
