"""What the Terraform tests share: running terraform in an isolated copy, and the applied stack.

Nothing touches the developer's own Terraform state: the module is copied to a temporary folder
(with the two definition files it reads), TF_DATA_DIR points there too, and the workspace is a fresh
`test-<random>` one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

ROOT = Path(__file__).resolve().parents[2]
TF_MIRROR = Path(os.environ.get("TF_MIRROR", "/opt/tf-plugins"))
REGION = "us-east-1"
FUNCTIONS = (
    "append_event",
    "checkpoints",
    "create_stream",
    "delete_stream",
    "describe_data_subject",
    "erase_data_subject",
    "list_streams",
    "liveness_check",
    "notify_stream",
    "read_events",
    "read_feed",
    "remove_expired",
    "snapshots",
    "stream_metadata",
)
# An emulator that keeps answering 500 makes the provider retry for ever: fail instead of hanging.
COMMAND_TIMEOUT = 420
# An existing topic (a pager's) the alarms notify besides the workspace's own alarm topic.
PAGER_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:pager"
PLACEHOLDER_HANDLER = 'def handler(event, context):\n    return {"statusCode": 200, "body": "%s"}\n'


@dataclass
class Terraform:
    """Runs terraform in the copied module with an isolated environment."""

    directory: Path
    env: dict[str, str]
    var_args: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["terraform", f"-chdir={self.directory}", *args]
        try:
            result = subprocess.run(
                command, env=self.env, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"terraform {args[0]} still running after {COMMAND_TIMEOUT} s:\n{exc.stdout!r}")
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(args[:1])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("output", "-json").stdout)
        return {name: value["value"] for name, value in raw.items()}


@dataclass
class Stack:
    """An applied stack on moto: where it is and how to build and change it."""

    terraform: Terraform
    endpoint: str
    workspace: str
    functions_dir: Path
    shared_dir: Path
    build_dir: Path
    outputs: dict[str, Any]
    timings: dict[str, float]

    @property
    def name(self) -> str:
        return f"eventstore-{self.workspace}"

    @property
    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)

    def apigateway(self) -> APIGatewayClient:
        return self.session.client("apigateway", endpoint_url=self.endpoint)

    def awslambda(self) -> LambdaClient:
        return self.session.client("lambda", endpoint_url=self.endpoint)

    def cloudwatch(self) -> CloudWatchClient:
        return self.session.client("cloudwatch", endpoint_url=self.endpoint)

    def dynamodb(self) -> DynamoDBClient:
        return self.session.client("dynamodb", endpoint_url=self.endpoint)

    def iam(self) -> IAMClient:
        return self.session.client("iam", endpoint_url=self.endpoint)

    def kms(self) -> KMSClient:
        return self.session.client("kms", endpoint_url=self.endpoint)

    def logs(self) -> CloudWatchLogsClient:
        return self.session.client("logs", endpoint_url=self.endpoint)

    def events(self) -> EventBridgeClient:
        return self.session.client("events", endpoint_url=self.endpoint)

    def s3(self) -> S3Client:
        return self.session.client("s3", endpoint_url=self.endpoint)

    def sns(self) -> SNSClient:
        return self.session.client("sns", endpoint_url=self.endpoint)

    def sqs(self) -> SQSClient:
        return self.session.client("sqs", endpoint_url=self.endpoint)

    def build(self) -> dict[str, Any]:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "build.py"),
                "--out",
                str(self.build_dir),
                "--functions-dir",
                str(self.functions_dir),
                "--shared-dir",
                str(self.shared_dir),
                "--cache-dir",
                str(ROOT / "build" / "cache"),
            ],
            check=True,
            capture_output=True,
        )
        manifest: dict[str, Any] = json.loads((self.build_dir / "manifest.json").read_text())
        return manifest


LOCAL_BACKEND = 'terraform {\n  backend "local" {}\n}\n'


def copy_module(destination: Path) -> Path:
    """The Terraform module (with its committed lock file) and the definition files it reads, laid out
    as in the repository; state stays local, as `make` arranges for emulator workspaces."""
    shutil.copytree(
        ROOT / "terraform",
        destination / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "terraform.tfstate*", "*_override.tf"),
    )
    (destination / "terraform" / "local_backend_override.tf").write_text(LOCAL_BACKEND)
    (destination / "shared" / "eventstore").mkdir(parents=True)
    for definition in ("table.json", "routes.json"):
        shutil.copy(ROOT / "shared" / "eventstore" / definition, destination / "shared" / "eventstore")
    return destination / "terraform"


def terraform_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
    env |= {"TF_DATA_DIR": str(data_dir), "TF_IN_AUTOMATION": "1", "AWS_EC2_METADATA_DISABLED": "true"}
    if (TF_MIRROR / "registry.terraform.io").is_dir():
        config = data_dir.parent / "terraform-mirror.tfrc"
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{TF_MIRROR}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        env["TF_CLI_CONFIG_FILE"] = str(config)
    return env
