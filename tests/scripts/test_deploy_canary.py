"""scripts/deploy_canary.py against stubbed CodeDeploy and Lambda clients (botocore's Stubber): which
functions it deploys, the AppSpec it sends, how it waits and the exit status it ends with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from scripts import deploy_canary

if TYPE_CHECKING:
    from mypy_boto3_codedeploy import CodeDeployClient
    from mypy_boto3_lambda import LambdaClient

OUTPUTS = {
    "application": "eventstore-production",
    "region": "eu-west-1",
    "alias": "live",
    "deployment_groups": {
        "eventstore-production-append-events": "eventstore-production-append-events",
        "eventstore-production-read-events": "eventstore-production-read-events",
    },
}
APPEND = "eventstore-production-append-events"
READ = "eventstore-production-read-events"


class Clients:
    def __init__(self) -> None:
        session = boto3.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1"
        )
        self.codedeploy: CodeDeployClient = session.client("codedeploy")
        self.lambda_client: LambdaClient = session.client("lambda")
        self.codedeploy_stub = Stubber(self.codedeploy)
        self.lambda_stub = Stubber(self.lambda_client)
        self.sleeps: list[float] = []
        self.now = 0.0

    def alias(self, function: str, version: str, weights: dict[str, float] | None = None) -> None:
        response: dict[str, Any] = {"Name": "live", "FunctionVersion": version}
        if weights:
            response["RoutingConfig"] = {"AdditionalVersionWeights": weights}
        self.lambda_stub.add_response("get_alias", response, {"FunctionName": function, "Name": "live"})

    def versions(self, function: str, *numbers: str) -> None:
        self.lambda_stub.add_response(
            "list_versions_by_function",
            {"Versions": [{"Version": number} for number in ("$LATEST", *numbers)]},
            {"FunctionName": function},
        )

    def created(self, group: str, content: dict[str, Any], deployment_id: str) -> None:
        self.codedeploy_stub.add_response(
            "create_deployment",
            {"deploymentId": deployment_id},
            {
                "applicationName": "eventstore-production",
                "deploymentGroupName": group,
                "revision": {
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {"content": json.dumps(content)},
                },
                "description": ANY,
            },
        )

    def status(self, deployment_id: str, status: str, **extra: Any) -> None:
        self.codedeploy_stub.add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": deployment_id, "status": status, **extra}},
            {"deploymentId": deployment_id},
        )

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def deploy(self, timeout: float = 3600) -> int:
        with self.codedeploy_stub, self.lambda_stub:
            code = deploy_canary.deploy(
                OUTPUTS,
                self.codedeploy,
                self.lambda_client,
                timeout=timeout,
                poll=15,
                sleep=self.sleep,
                clock=lambda: self.now,
            )
            self.codedeploy_stub.assert_no_pending_responses()
            self.lambda_stub.assert_no_pending_responses()
        return code


@pytest.fixture
def clients() -> Clients:
    return Clients()


def appspec(function: str, current: str, target: str) -> dict[str, Any]:
    properties = {"Name": function, "Alias": "live", "CurrentVersion": current, "TargetVersion": target}
    return {
        "version": 0.0,
        "Resources": [{function: {"Type": "AWS::Lambda::Function", "Properties": properties}}],
    }


def test_deploys_only_functions_behind_their_newest_version_and_waits(clients: Clients) -> None:
    clients.alias(APPEND, "3")
    clients.versions(APPEND, "2", "3", "10")  # numeric order: 10 is newest, not 3
    clients.alias(READ, "7")
    clients.versions(READ, "6", "7")
    clients.created(APPEND, appspec(APPEND, "3", "10"), "d-APPEND")
    clients.status("d-APPEND", "InProgress")
    clients.status("d-APPEND", "Succeeded")

    assert clients.deploy() == deploy_canary.SUCCEEDED
    assert clients.sleeps == [15]


def test_nothing_to_deploy_starts_nothing(clients: Clients) -> None:
    clients.alias(APPEND, "4")
    clients.versions(APPEND, "4")
    clients.alias(READ, "2")
    clients.versions(READ, "1", "2")

    assert clients.deploy() == deploy_canary.SUCCEEDED


def test_a_rollback_exits_non_zero_and_says_why(clients: Clients, caplog: pytest.LogCaptureFixture) -> None:
    clients.alias(APPEND, "3")
    clients.versions(APPEND, "3", "4")
    clients.alias(READ, "7")
    clients.versions(READ, "7", "8")
    clients.created(APPEND, appspec(APPEND, "3", "4"), "d-APPEND")
    clients.created(READ, appspec(READ, "7", "8"), "d-READ")
    clients.status("d-APPEND", "Succeeded")
    clients.status("d-READ", "Baking")
    clients.status(
        "d-READ",
        "Stopped",
        errorInformation={"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"},
        rollbackInfo={
            "rollbackDeploymentId": "d-BACK",
            "rollbackMessage": "Alarm eventstore-production-read-events-errors",
        },
    )

    assert clients.deploy() == deploy_canary.FAILED
    assert "ALARM_ACTIVE" in caplog.text
    assert "rolled back by d-BACK" in caplog.text


def test_a_failed_deployment_exits_non_zero(clients: Clients) -> None:
    clients.alias(APPEND, "1")
    clients.versions(APPEND, "1", "2")
    clients.alias(READ, "1")
    clients.versions(READ, "1")
    clients.created(APPEND, appspec(APPEND, "1", "2"), "d-APPEND")
    clients.status("d-APPEND", "Failed", errorInformation={"code": "INTERNAL_ERROR", "message": "boom"})

    assert clients.deploy() == deploy_canary.FAILED


def test_the_wait_times_out_with_its_own_status(clients: Clients) -> None:
    clients.alias(APPEND, "1")
    clients.versions(APPEND, "1", "2")
    clients.alias(READ, "1")
    clients.versions(READ, "1")
    clients.created(APPEND, appspec(APPEND, "1", "2"), "d-APPEND")
    clients.status("d-APPEND", "InProgress")
    clients.status("d-APPEND", "InProgress")
    clients.status("d-APPEND", "InProgress")

    assert clients.deploy(timeout=30) == deploy_canary.TIMED_OUT
    assert clients.sleeps == [15, 15]


def test_an_alias_split_between_versions_is_not_deployed_over(clients: Clients) -> None:
    clients.alias(APPEND, "3", weights={"4": 0.1})

    with pytest.raises(deploy_canary.DeployError, match="split between versions"), clients.lambda_stub:
        deploy_canary.plan(clients.lambda_client, "live", {APPEND: APPEND})


def test_a_function_without_a_published_version_is_refused(clients: Clients) -> None:
    clients.alias(APPEND, "1")
    clients.versions(APPEND)

    with pytest.raises(deploy_canary.DeployError, match="no published version"), clients.lambda_stub:
        deploy_canary.plan(clients.lambda_client, "live", {APPEND: APPEND})


def test_main_refuses_a_workspace_without_canary_deployments(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("null\n")

    assert deploy_canary.main([str(outputs)]) == deploy_canary.FAILED
