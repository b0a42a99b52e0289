"""Environments that cannot be confused: `make` refuses a workspace without its variables or its backend,
the plan fails for the wrong account, workspace or workspace name, and the examples do not collide."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.stack import ROOT, Stack, Terraform, terraform_env

EXAMPLES = {"staging": "env/staging.tfvars", "production": "env/production.tfvars.example"}


@pytest.fixture
def make_copy(tmp_path: Path) -> Path:
    """The Makefile and terraform/ in a scratch folder, so `make` cannot touch the real workspace."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(
        ROOT / "terraform",
        tmp_path / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*_override.tf"),
    )
    return tmp_path


def make(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_", "MAKE"))}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("target", ["plan", "apply", "destroy", "describe"])
def test_make_refuses_a_workspace_without_its_tfvars(make_copy: Path, target: str) -> None:
    result = make(make_copy, target, "WORKSPACE=prodution")
    assert result.returncode != 0
    assert "terraform/env/prodution.tfvars does not exist" in result.stderr
    assert not (make_copy / "build").exists(), "nothing may be built or initialised before the refusal"


def test_make_refuses_an_aws_workspace_without_its_s3_backend(make_copy: Path) -> None:
    shutil.copy(
        make_copy / "terraform/env/production.tfvars.example", make_copy / "terraform/env/production.tfvars"
    )
    result = make(make_copy, "apply", "WORKSPACE=production")
    assert result.returncode != 0
    assert "terraform/backend/production.s3.tfbackend does not exist" in result.stderr
    assert not (make_copy / "terraform" / "local_backend_override.tf").exists()


def test_make_keeps_local_state_for_emulators_only(make_copy: Path) -> None:
    override = make_copy / "terraform" / "local_backend_override.tf"
    assert make(make_copy, "tf-env", "WORKSPACE=local").returncode == 0
    assert 'backend "local"' in override.read_text()
    # An environment with an S3 backend never runs with the emulator's local state.
    assert make(make_copy, "tf-env", "WORKSPACE=staging").returncode == 0
    assert not override.exists()


def test_make_apply_refuses_a_saved_plan_of_another_build(make_copy: Path) -> None:
    saved = make_copy / "build" / "terraform" / "local"
    saved.mkdir(parents=True)
    (make_copy / "build" / "manifest.json").write_text('{"layer": "new"}\n')
    (saved / "saved.tfplan").write_bytes(b"plan")
    (saved / "saved.tfplan.build").write_text(f"{'0' * 64}  build/manifest.json\n")
    result = make(make_copy, "apply", "WORKSPACE=local")
    assert result.returncode != 0
    assert "build/ changed since `make plan`" in result.stderr


def console(terraform: Terraform, expression: str, *args: str) -> object:
    result = subprocess.run(
        ["terraform", f"-chdir={terraform.directory}", "console", "-no-color", *args],
        input=f"jsonencode({expression})\n",
        env=terraform.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


def test_examples_are_tied_to_their_workspace_and_account_and_do_not_collide(
    initialised_module: Terraform,
) -> None:
    claims = {}
    for workspace, path in EXAMPLES.items():
        values = console(
            initialised_module,
            "[var.environment, var.allowed_account_ids, var.region, var.manage_api_gateway_account]",
            f"-var-file={path}",
        )
        assert isinstance(values, list)
        environment, accounts, region, manages_account_setting = values
        assert environment == workspace
        assert len(accounts) == 1
        if manages_account_setting:
            claims[workspace] = (accounts[0], region)
    # API Gateway's CloudWatch role is one setting per account and region: one owner each.
    assert len(set(claims.values())) == len(claims), claims


def plan_failure(stack: Stack, *args: str, workspace: str | None = None) -> str:
    env = stack.terraform.env | ({"TF_WORKSPACE": workspace} if workspace else {})
    result = subprocess.run(
        ["terraform", f"-chdir={stack.terraform.directory}", "plan", "-input=false", "-no-color",
         "-refresh=false", *stack.terraform.var_args, *args],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout[-2000:]
    return " ".join((result.stdout + result.stderr).split())


def test_plan_fails_in_an_account_the_environment_does_not_allow(stack: Stack) -> None:
    output = plan_failure(stack, '-var=allowed_account_ids=["999999999999"]')
    assert "123456789012" in output
    assert "not allowed" in output.lower()


def test_plan_fails_with_variables_of_another_environment(stack: Stack) -> None:
    output = plan_failure(stack, "-var=environment=production")
    assert f'are for environment "production", not for workspace "{stack.workspace}"' in output


def test_plan_fails_for_an_invalid_workspace_name(stack: Stack) -> None:
    output = plan_failure(stack, workspace="Bad_Name")
    assert "Workspace names must be 1-24 lowercase letters" in output


def test_aws_workspaces_must_name_environment_and_account(initialised_module: Terraform) -> None:
    result = subprocess.run(
        ["terraform", f"-chdir={initialised_module.directory}", "plan", "-input=false", "-no-color"],
        env=initialised_module.env | {"TF_WORKSPACE": "staging"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = " ".join(result.stderr.split())
    assert result.returncode != 0
    assert "environment must name the workspace" in output
    assert "allowed_account_ids must list the environment's account" in output


def test_ci_deploy_role_sample_is_valid(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "terraform" / "ci", tmp_path / "ci")
    terraform = Terraform(tmp_path / "ci", terraform_env(tmp_path / "tf-data"))
    terraform.run("init", "-backend=false", "-input=false", "-no-color")
    assert "Success" in terraform.run("validate", "-no-color").stdout


@pytest.fixture(scope="module")
def production_plan(stack: Stack) -> dict[str, Any]:
    """The production example planned as on AWS (aws_endpoint_url unset, so nothing emulator-only), with
    moto answering through the SDK's AWS_ENDPOINT_URL and its account swapped for moto's: each planned
    resource's values by address."""
    plan_file = stack.build_dir.parent / "production.tfplan"
    as_on_aws = {
        "TF_WORKSPACE": "production",
        "AWS_ENDPOINT_URL": stack.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    production = Terraform(stack.terraform.directory, stack.terraform.env | as_on_aws)
    production.run(
        "plan", "-input=false", "-no-color", f"-out={plan_file}", f"-var-file={EXAMPLES['production']}",
        f"-var=build_dir={stack.build_dir}", '-var=allowed_account_ids=["123456789012"]',
    )  # fmt: skip
    shown = json.loads(production.run("show", "-json", str(plan_file)).stdout)
    return {change["address"]: change["change"]["after"] for change in shown["resource_changes"]}


def test_production_example_plans_backups_waf_and_custom_domain(production_plan: dict[str, Any]) -> None:
    """The backup plan with the copy to another account's vault, the vault lock, the selection of the
    table, the WAF association and the custom domain."""
    planned = production_plan
    rule = planned["aws_backup_plan.this[0]"]["rule"][0]
    assert rule["copy_action"][0]["destination_vault_arn"].startswith(
        "arn:aws:backup:eu-central-1:333333333333:"
    )
    assert rule["lifecycle"][0]["delete_after"] == 365
    assert planned["aws_backup_vault_lock_configuration.this[0]"]["min_retention_days"] == 30
    assert "aws_backup_selection.table[0]" in planned
    assert planned["aws_wafv2_web_acl_association.api[0]"]["web_acl_arn"].startswith(
        "arn:aws:wafv2:eu-west-1:"
    )


def test_production_example_plans_canary_deployments(production_plan: dict[str, Any]) -> None:
    """moto's CodeDeploy is not applied by the stack (canary_deployments is off there), so the production
    example's plan shows it: one application, a deployment group per function with the canary
    configuration and rollback on its own alarms (the API's 5xx alarm for functions behind the API), a
    role scoped to the aliases and alarms, and the alias Terraform leaves to CodeDeploy."""
    planned = production_plan
    assert planned["aws_codedeploy_app.functions[0]"]["compute_platform"] == "Lambda"
    groups = {
        address.split('"')[1]: after
        for address, after in planned.items()
        if address.startswith("aws_codedeploy_deployment_group.function[")
    }
    functions = {
        address.split('"')[1] for address in planned if address.startswith("aws_lambda_function.this[")
    }
    assert set(groups) == functions
    for key, group in groups.items():
        name = f"eventstore-production-{key.replace('_', '-')}"
        assert group["deployment_group_name"] == name
        assert group["deployment_config_name"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
        assert group["deployment_style"] == [
            {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"}
        ]
        assert group["auto_rollback_configuration"] == [
            {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
        ]
        alarms = set(group["alarm_configuration"][0]["alarms"])
        assert {f"{name}-errors", f"{name}-throttles"} <= alarms
        for alarm in alarms:  # every one of them is an alarm this plan creates, by the same name
            assert any(
                address.startswith("aws_cloudwatch_metric_alarm.") and after["alarm_name"] == alarm
                for address, after in planned.items()
            ), alarm
    assert "eventstore-production-api-5xx-rate" in groups["append_event"]["alarm_configuration"][0]["alarms"]
    assert (
        "eventstore-production-api-5xx-rate"
        not in groups["notify_stream"]["alarm_configuration"][0]["alarms"]
    )

    assert not [address for address in planned if address.startswith("aws_lambda_alias.live[")]
    assert {
        address.split('"')[1] for address in planned if address.startswith("aws_lambda_alias.live_shifted[")
    } == functions

    policy = json.loads(planned["aws_iam_role_policy.codedeploy[0]"]["policy"])
    actions = {action for statement in policy["Statement"] for action in _as_list(statement["Action"])}
    assert actions == {
        "lambda:GetAlias",
        "lambda:UpdateAlias",
        "lambda:GetProvisionedConcurrencyConfig",
        "cloudwatch:DescribeAlarms",
    }
    resources = [
        resource for statement in policy["Statement"] for resource in _as_list(statement["Resource"])
    ]
    assert "*" not in resources
    assert "arn:aws:lambda:eu-west-1:123456789012:function:eventstore-production-append-event:*" in resources
    assert "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:eventstore-production-api-5xx-rate" in resources
    assume = json.loads(planned["aws_iam_role.codedeploy[0]"]["assume_role_policy"])
    assert assume["Statement"][0]["Principal"] == {"Service": "codedeploy.amazonaws.com"}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
