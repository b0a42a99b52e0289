"""Helpers shared by the tests: saved event shapes, handler loading, response-schema checks."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import socket
import sys
import threading
import uuid
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import jsonschema
import pytest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from eventstore.dynamodb.store import DynamoEventStore

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


def notified(store: DynamoEventStore, stream_id: str) -> int:
    """The last revision notify_stream published and recorded for the stream."""
    return store.cursors([stream_id])[stream_id].notified


def feed_entries(store: DynamoEventStore, stream_type: str | None = None) -> list[tuple[str, int]]:
    """(stream id, revision) of every event in a feed, in feed order."""
    entries: list[tuple[str, int]] = []
    after = None
    while True:
        page = store.read_feed(stream_type, after, 1000)
        entries.extend((e.stream_id, e.revision) for e in page.events)
        after = page.last_position
        if not page.has_more:
            return entries


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def proxy_event(
    method: str,
    resource: str,
    path_params: dict[str, str] | None = None,
    *,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API proxy event (IAM-authenticated) for a route, built from the saved real event."""
    event = copy.deepcopy(load_event("apigw_rest_proxy_iam"))
    params = path_params or {}
    path = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], resource)
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        pathParameters=params or None,
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
    )
    event["headers"].update(headers or {})
    context = event["requestContext"]
    context.update(
        resourcePath=resource,
        httpMethod=method,
        path=f"/{context['stage']}{path}",
        requestId=str(uuid.uuid4()),
    )
    return event


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/handler.py afresh, as the Lambda runtime would in a new container."""
    path = ROOT / "functions" / function / "handler.py"
    name = f"handler_{function}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _contract() -> dict[str, Any]:
    contract: dict[str, Any] = json.loads((ROOT / "shared" / "eventstore" / "contract.json").read_text())
    return contract


def assert_matches_schema(instance: Any, schema_name: str) -> None:
    """Check a response body against a schema of openapi.yaml."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _contract()["components"]}
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)


def listing_marker(store: DynamoEventStore, stream_id: str) -> Any:
    """A stream's listing marker item (revision -1, for a commit that landed late), or None."""
    # Deferred: bench imports this module before it puts the layer on the path.
    from eventstore.table import LISTING_MARKER_REVISION  # noqa: PLC0415

    key = {"streamId": {"S": stream_id}, "revision": {"N": str(LISTING_MARKER_REVISION)}}
    return store.table.client.get_item(TableName=store.table.name, Key=key, ConsistentRead=True).get("Item")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


PAYLOAD_BUCKET = "eventstore-payloads"


def data_key_resources(environ: dict[str, str] | None = None, *, keys_table: str = "keys") -> dict[str, str]:
    """Inside mock_aws: the keys table, a KMS key and the payload bucket, and the environment that points
    functions at them."""
    import boto3  # noqa: PLC0415 - only the tests that build handlers need it

    from eventstore.dynamodb.keys import create_keys_table  # noqa: PLC0415

    create_keys_table(boto3.client("dynamodb"), keys_table)
    key_id = boto3.client("kms").create_key(Description="data keys")["KeyMetadata"]["KeyId"]
    s3 = boto3.client("s3")
    if s3.meta.region_name == "us-east-1":  # the one region S3 refuses a location constraint for
        s3.create_bucket(Bucket=PAYLOAD_BUCKET)
    else:
        s3.create_bucket(
            Bucket=PAYLOAD_BUCKET,
            CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name},  # type: ignore[typeddict-item]
        )
    return (environ or {}) | {
        "EVENTSTORE_PAYLOAD_BUCKET": PAYLOAD_BUCKET,
        "EVENTSTORE_KEYS_TABLE_NAME": keys_table,
        "EVENTSTORE_DATA_KEY_KMS_KEY_ID": key_id,
    }


AWS_TEST_REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's fake credentials and region, and none of the developer's own (session, profile, endpoint).
    Autouse in the folders whose conftest imports it (tests/core, tests/removal)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": AWS_TEST_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


_DYNAMODB_REQUESTS = threading.Lock()


def one_request_at_a_time(client: DynamoDBClient) -> DynamoDBClient:
    """The client, its operations run one at a time (one lock for every such client): _OneRequestAtATime."""
    return cast("DynamoDBClient", _OneRequestAtATime(client))


class _OneRequestAtATime:
    """A DynamoDB client whose operations run one at a time.

    DynamoDB applies each request atomically; moto does not under threads: a conditional PutItem checks the
    key, then writes it, with no lock, so two racing puts can both be told "written". Tests that race the
    store's writes run on this, as the local runtime's emulator serializes DynamoDB (emulator.py). Only the
    client's operations are wrapped; everything else (meta, exceptions) is the client's own."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._operations = frozenset(client.meta.method_to_api_mapping)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._operations:
            return attribute

        def one_at_a_time(**kwargs: Any) -> Any:
            with _DYNAMODB_REQUESTS:
                return attribute(**kwargs)

        return one_at_a_time
