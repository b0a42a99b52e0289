"""`--from-terraform`: the stack Terraform created in the emulator, read back from the emulator itself.

The workspace's outputs name the table, topic and queues; the REST API's resources and methods (with
their authorization) and the Lambda integrations behind them come from API Gateway; each function's
handler, environment, code and layers from Lambda (the code and layer zips are the build's, found by the
CodeSha256 the emulator holds); the event source mappings' settings from Lambda. Nothing is taken from
routes.json or the runtime's own defaults, so what Terraform changes is what runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from moto.events.models import EventPattern

from local_runtime.containers import Package
from local_runtime.proxy_events import Route, compile_resource, sort_routes
from local_runtime.settings import PumpSettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import boto3
    from moto.events.utils import EventMessageType

log = logging.getLogger(__name__)

_INTEGRATION_FUNCTION = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")
_TERRAFORM_TIMEOUT = 600


class DeploymentError(RuntimeError):
    """What Terraform deployed cannot be served (missing, or not matching the build)."""


@dataclass(frozen=True, slots=True)
class SourceMapping:
    """An event source mapping on the table's stream, as the emulator holds it."""

    function_arn: str
    settings: PumpSettings
    patterns: tuple[EventPattern, ...]
    on_failure_queue_url: str | None
    start_at_latest: bool

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Lambda's FilterCriteria: a record passes when any filter's pattern matches it (or none is set)."""
        return not self.patterns or any(
            pattern.matches_event(cast("EventMessageType", dict(record))) for pattern in self.patterns
        )


@dataclass(frozen=True, slots=True)
class DeployedStack:
    table_name: str
    stream_arn: str
    topic_arn: str
    on_failure_queue_url: str
    subscriber_queue_url: str
    routes: tuple[Route, ...]
    packages: Mapping[str, Package]
    """By the ARN API Gateway or the mapping invokes (qualified when they name a version or alias)."""
    mappings: tuple[SourceMapping, ...]


@dataclass(frozen=True, slots=True)
class Workspace:
    """A Terraform workspace of a module: where `terraform` runs and which state it reads."""

    directory: Path
    name: str

    def run(self, *args: str) -> str:
        environment = dict(os.environ) | {"TF_WORKSPACE": self.name, "TF_IN_AUTOMATION": "1"}
        command = ["terraform", f"-chdir={self.directory}", *args]
        result = subprocess.run(  # noqa: S603 - terraform on the module, arguments built here
            command, env=environment, capture_output=True, text=True, check=False, timeout=_TERRAFORM_TIMEOUT
        )
        if result.returncode != 0:
            raise DeploymentError(f"terraform {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr}")
        return result.stdout

    def ensure(self) -> None:
        """Create the workspace when it does not exist yet (`make apply` does the same)."""
        listed = subprocess.run(  # noqa: S603
            ["terraform", f"-chdir={self.directory}", "workspace", "list"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if k != "TF_WORKSPACE"},
        ).stdout.split()
        if self.name not in [name.lstrip("*") for name in listed if name != "*"]:
            subprocess.run(  # noqa: S603
                ["terraform", f"-chdir={self.directory}", "workspace", "new", self.name],  # noqa: S607
                capture_output=True,
                check=True,
                env={k: v for k, v in os.environ.items() if k != "TF_WORKSPACE"},
            )

    def apply(self, variables: Mapping[str, str]) -> None:
        var_file = self.directory / "env" / f"{self.name}.tfvars"
        args = ["apply", "-auto-approve", "-input=false", "-no-color"]
        if var_file.is_file():
            args.append(f"-var-file={var_file.relative_to(self.directory)}")
        args += [f"-var={name}={value}" for name, value in variables.items()]
        self.run(*args)

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("output", "-json"))
        return {name: value["value"] for name, value in raw.items()}


def code_index(build_dir: Path) -> dict[str, Path]:
    """Every zip under the build folder by its CodeSha256 (base64 of the SHA-256, as Lambda reports it)."""
    index: dict[str, Path] = {}
    for archive in sorted(build_dir.rglob("*.zip")):
        if "cache" in archive.relative_to(build_dir).parts:
            continue
        index[base64.b64encode(hashlib.sha256(archive.read_bytes()).digest()).decode()] = archive
    return index


def read_stack(
    session: boto3.session.Session, endpoint: str, outputs: Mapping[str, Any], build_dir: Path
) -> DeployedStack:
    """The stack the outputs name, read back from the emulator at `endpoint`."""
    missing = {"table_name", "topic_arn", "api_execution_arn", "on_failure_queue_url"} - set(outputs)
    if missing:
        raise DeploymentError(f"the workspace has no {', '.join(sorted(missing))} output: was it applied?")
    client = _Clients(session, endpoint)
    table_name = outputs["table_name"]
    table = client.dynamodb.describe_table(TableName=table_name)["Table"]
    stream_arn = table.get("LatestStreamArn")
    if not stream_arn:
        raise DeploymentError(f"table {table_name} has no stream")
    api_id = outputs["api_execution_arn"].rsplit(":", 1)[1]
    zips = code_index(build_dir)
    routes = _routes(client, api_id)
    mappings = _mappings(client, stream_arn)
    invoked = {route.function for route in routes} | {mapping.function_arn for mapping in mappings}
    packages = {arn: _package(client, arn, zips) for arn in sorted(invoked)}
    return DeployedStack(
        table_name=table_name,
        stream_arn=stream_arn,
        topic_arn=outputs["topic_arn"],
        on_failure_queue_url=outputs["on_failure_queue_url"],
        subscriber_queue_url=outputs.get("example_subscriber_queue_url", ""),
        routes=tuple(sort_routes(routes)),
        packages=packages,
        mappings=tuple(mappings),
    )


class _Clients:
    def __init__(self, session: boto3.session.Session, endpoint: str) -> None:
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.apigateway = session.client("apigateway", endpoint_url=endpoint)
        self.awslambda = session.client("lambda", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)


def _routes(client: _Clients, api_id: str) -> list[Route]:
    routes = []
    for page in client.apigateway.get_paginator("get_resources").paginate(restApiId=api_id):
        for resource in page["items"]:
            for method in resource.get("resourceMethods", {}):
                described = client.apigateway.get_method(
                    restApiId=api_id, resourceId=resource["id"], httpMethod=method
                )
                integration = described.get("methodIntegration", {})
                found = _INTEGRATION_FUNCTION.search(integration.get("uri", ""))
                if integration.get("type") != "AWS_PROXY" or found is None:
                    log.warning("%s %s: not a Lambda proxy integration; not served", method, resource["path"])
                    continue
                routes.append(
                    Route(
                        method=method,
                        resource=resource["path"],
                        function=found["arn"],
                        pattern=compile_resource(resource["path"]),
                        require_iam=described.get("authorizationType") == "AWS_IAM",
                    )
                )
    if not routes:
        raise DeploymentError(f"REST API {api_id} has no methods")
    return routes


def _package(client: _Clients, function_arn: str, zips: Mapping[str, Path]) -> Package:
    name, _, qualifier = function_arn.split(":function:", 1)[1].partition(":")
    arguments = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    config = client.awslambda.get_function_configuration(**arguments)
    layers = []
    for layer in config.get("Layers", []):
        # GetLayerVersionByArn answers 500 on moto 5.2; the name and version are in the ARN.
        layer_name, version = layer["Arn"].rsplit(":", 2)[-2:]
        content = client.awslambda.get_layer_version(LayerName=layer_name, VersionNumber=int(version))[
            "Content"
        ]
        layers.append(_zip_for(zips, content["CodeSha256"], f"layer {layer['Arn']}"))
    return Package(
        name=config["FunctionName"],
        arn=function_arn,
        handler=config["Handler"],
        environment=config.get("Environment", {}).get("Variables", {}),
        code_zip=_zip_for(zips, config["CodeSha256"], f"function {function_arn}"),
        layer_zips=tuple(layers),
        timeout_seconds=float(config["Timeout"]),
        memory_mb=int(config["MemorySize"]),
        version=config.get("Version", "$LATEST"),
    )


def _zip_for(zips: Mapping[str, Path], sha: str, what: str) -> Path:
    try:
        return zips[sha]
    except KeyError:
        raise DeploymentError(
            f"{what}: its deployed code (CodeSha256 {sha}) is no zip in the build folder; "
            "the build changed since the apply (make apply again)"
        ) from None


def _mappings(client: _Clients, stream_arn: str) -> list[SourceMapping]:
    mappings = []
    pages = client.awslambda.get_paginator("list_event_source_mappings").paginate(EventSourceArn=stream_arn)
    for page in pages:
        for mapping in page["EventSourceMappings"]:
            if mapping.get("State", "Enabled") != "Enabled":
                continue
            retries = mapping.get("MaximumRetryAttempts")
            age = mapping.get("MaximumRecordAgeInSeconds")
            settings = PumpSettings(
                batch_size=mapping.get("BatchSize") or 100,
                batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds") or 0),
                maximum_retry_attempts=-1 if retries is None else retries,
                maximum_record_age_seconds=-1 if age is None else age,
                bisect_batch_on_function_error=bool(mapping.get("BisectBatchOnFunctionError")),
                report_batch_item_failures="ReportBatchItemFailures"
                in (mapping.get("FunctionResponseTypes") or []),
            )
            filters = (mapping.get("FilterCriteria") or {}).get("Filters") or []
            destination = (mapping.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
            mappings.append(
                SourceMapping(
                    function_arn=mapping["FunctionArn"],
                    settings=settings,
                    patterns=tuple(EventPattern.load(f["Pattern"]) for f in filters),
                    on_failure_queue_url=_queue_url(client, destination) if destination else None,
                    start_at_latest=mapping.get("StartingPosition") == "LATEST",
                )
            )
    return mappings


def _queue_url(client: _Clients, queue_arn: str) -> str:
    *_, account, name = queue_arn.split(":")
    return client.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def routes_summary(routes: Sequence[Route]) -> str:
    return ", ".join(f"{r.method} {r.resource}" for r in routes)
