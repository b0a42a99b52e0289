"""Shifts each function's live alias to its newest published version through CodeDeploy (`make deploy`).

With `canary_deployments` on, `make apply` publishes new versions but leaves the alias alone; this starts
one CodeDeploy deployment per function whose alias is behind, waits for them all and reports each one.
CodeDeploy moves the alias in the steps of the deployment group's configuration and moves it back when
the deployment fails or one of its alarms fires (terraform/codedeploy.tf). Exit status: 0 when every
deployment succeeded (or none was needed), 1 when one failed or was rolled back, 2 when the wait timed
out (the deployments go on; see docs/operations.md, "Deploys").

Usage: terraform output -json canary_deployments > outputs.json; deploy_canary.py outputs.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_codedeploy import CodeDeployClient
    from mypy_boto3_codedeploy.type_defs import DeploymentInfoTypeDef
    from mypy_boto3_lambda import LambdaClient

LOG = logging.getLogger("deploy_canary")

SUCCEEDED = 0
FAILED = 1
TIMED_OUT = 2

# CodeDeploy's final deployment states; every other one (Created, Queued, InProgress, Baking, Ready) waits.
FINAL_STATES = frozenset({"Succeeded", "Failed", "Stopped"})


class DeployError(Exception):
    """A deployment that cannot be started as asked (an alias already split, no published version)."""


@dataclass(frozen=True)
class Target:
    group: str
    function: str
    current: str
    target: str


@dataclass(frozen=True)
class Outcome:
    target: Target
    status: str
    detail: str


def newest_version(lambda_client: LambdaClient, function: str) -> str:
    """The highest published version number ($LATEST is not a version CodeDeploy can shift to)."""
    versions = [
        int(version["Version"])
        for page in lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
        for version in page["Versions"]
        if version["Version"] != "$LATEST"
    ]
    if not versions:
        raise DeployError(f"{function} has no published version: run `make apply` first")
    return str(max(versions))


def plan(lambda_client: LambdaClient, alias: str, groups: dict[str, str]) -> list[Target]:
    """The deployments to start: one per function whose alias points at an older version."""
    targets = []
    for group, function in sorted(groups.items()):
        current = lambda_client.get_alias(FunctionName=function, Name=alias)
        if current.get("RoutingConfig", {}).get("AdditionalVersionWeights"):
            # A deployment is shifting it (or one was cut off half-way): starting another would race it.
            raise DeployError(f"{function}:{alias} is split between versions: finish or roll back that first")
        target = newest_version(lambda_client, function)
        if current["FunctionVersion"] == target:
            LOG.info("%s: %s already at version %s", group, alias, target)
            continue
        targets.append(Target(group, function, current["FunctionVersion"], target))
    return targets


def appspec(target: Target, alias: str) -> str:
    """The AppSpec of a Lambda deployment: which alias moves from which version to which."""
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    target.function: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": target.function,
                            "Alias": alias,
                            "CurrentVersion": target.current,
                            "TargetVersion": target.target,
                        },
                    }
                }
            ],
        }
    )


def start(codedeploy: CodeDeployClient, application: str, alias: str, target: Target) -> str:
    deployment = codedeploy.create_deployment(
        applicationName=application,
        deploymentGroupName=target.group,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec(target, alias)}},
        description=f"{target.function}:{alias} {target.current} -> {target.target}",
    )
    LOG.info(
        "%s: deployment %s shifts %s from %s to %s",
        target.group,
        deployment["deploymentId"],
        alias,
        target.current,
        target.target,
    )
    return deployment["deploymentId"]


def describe(info: DeploymentInfoTypeDef) -> str:
    """Why a deployment ended as it did, from CodeDeploy's error and rollback information."""
    parts = []
    if error := info.get("errorInformation"):
        parts.append(f"{error.get('code', '')}: {error.get('message', '')}".strip(": "))
    if rollback := info.get("rollbackInfo"):
        rollback_id = rollback.get("rollbackDeploymentId", "?")
        parts.append(f"rolled back by {rollback_id}: {rollback.get('rollbackMessage', '')}")
    return "; ".join(parts)


def wait(
    codedeploy: CodeDeployClient,
    started: dict[str, Target],
    *,
    timeout: float,
    poll: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> list[Outcome]:
    """Polls every deployment until it ends or the timeout passes (those still running report their state)."""
    outcomes: dict[str, Outcome] = {}
    deadline = clock() + timeout
    while True:
        for deployment_id, target in started.items():
            if deployment_id in outcomes:
                continue
            info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            status = info.get("status", "Unknown")
            if status in FINAL_STATES:
                outcomes[deployment_id] = Outcome(target, status, describe(info))
                LOG.info(
                    "%s: deployment %s %s %s",
                    target.group,
                    deployment_id,
                    status,
                    outcomes[deployment_id].detail,
                )
            elif clock() >= deadline:
                outcomes[deployment_id] = Outcome(target, status, "still running when the wait timed out")
        if len(outcomes) == len(started):
            return [outcomes[deployment_id] for deployment_id in started]
        sleep(poll)


def exit_status(outcomes: Sequence[Outcome]) -> int:
    statuses = {outcome.status for outcome in outcomes}
    if statuses <= {"Succeeded"}:
        return SUCCEEDED
    if statuses & {"Failed", "Stopped"}:
        return FAILED
    return TIMED_OUT


def deploy(
    outputs: dict[str, Any],
    codedeploy: CodeDeployClient,
    lambda_client: LambdaClient,
    *,
    timeout: float = 3600,
    poll: float = 15,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    alias: str = outputs["alias"]
    targets = plan(lambda_client, alias, outputs["deployment_groups"])
    if not targets:
        LOG.info("every live alias is at its newest version: nothing to deploy")
        return SUCCEEDED
    started = {start(codedeploy, outputs["application"], alias, target): target for target in targets}
    outcomes = wait(codedeploy, started, timeout=timeout, poll=poll, sleep=sleep, clock=clock)
    for outcome in outcomes:
        if outcome.status != "Succeeded":
            LOG.error("%s: %s (%s)", outcome.target.group, outcome.status, outcome.detail)
    return exit_status(outcomes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "outputs", type=Path, help="`terraform output -json canary_deployments` written to a file"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the deployments")
    parser.add_argument("--poll", type=float, default=15, help="seconds between status checks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    outputs = json.loads(args.outputs.read_text())
    if outputs is None:
        LOG.error("canary_deployments is off for this workspace: `make apply` moves the aliases itself")
        return FAILED
    try:
        return deploy(
            outputs,
            boto3.client("codedeploy", region_name=outputs["region"]),
            boto3.client("lambda", region_name=outputs["region"]),
            timeout=args.timeout,
            poll=args.poll,
        )
    except DeployError as error:
        refused = str(error)
    LOG.error("%s", refused)
    return FAILED


if __name__ == "__main__":
    sys.exit(main())
