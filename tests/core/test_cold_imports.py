"""What a cold start loads: each function's init imports neither boto3 nor what only some requests need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from eventstore import service
from tests.support import ROOT

# Every function, so a new one is held to the same rule.
FUNCTIONS = tuple(sorted(path.parent.name for path in (ROOT / "functions").glob("*/handler.py")))
# boto3 drags in s3transfer and multiprocessing; jsonschema only a rejected request needs; X-Ray is patched
# on the first invocation; cryptography only a data subject's event needs.
NOT_AT_INIT = ("boto3", "s3transfer", "multiprocessing", "jsonschema", "aws_xray_sdk", "cryptography")

_OPTIONS = ("retries", "connect_timeout", "read_timeout", "tcp_keepalive")
_CHILD = """import json, sys
sys.path[:0] = [{shared!r}, {folder!r}]
import handler
print(json.dumps(sorted(m for m in sys.modules if m in {names!r} or m.split(".")[0] in {names!r})))
"""


def _loaded_at_init(function: str, names: set[str]) -> list[str]:
    """The modules among `names` (and their submodules) that the function's init imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EVENTSTORE_"))}
    env |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "EVENTSTORE_TABLE_NAME": "events",
        "EVENTSTORE_PAGE_KEY_SECRET": "a-page-key-secret-of-enough-length-0123",
        "EVENTSTORE_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:events",
        "EVENTSTORE_KEYS_TABLE_NAME": "keys",
        "EVENTSTORE_PAYLOAD_BUCKET": "payloads",
        "EVENTSTORE_DATA_KEY_KMS_KEY_ID": "1234abcd-12ab-34cd-56ef-1234567890ab",
    }
    code = _CHILD.format(shared=str(ROOT / "shared"), folder=str(ROOT / "functions" / function), names=names)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("function", FUNCTIONS)
def test_init_loads_no_boto3_jsonschema_or_xray(function: str) -> None:
    assert _loaded_at_init(function, set(NOT_AT_INIT)) == []


def test_the_stream_function_loads_no_http_layer() -> None:
    assert _loaded_at_init("notify_stream", {"eventstore.http", "eventstore.routes"}) == []


# The modules of one concern (its operations, its values, its storage) that only some functions use. Each
# function's init loads those of its own routes (made at init, so its first request does not) and no other's.
CONCERN_MODULES = frozenset(
    f"eventstore.{name}"
    for name in (
        *(f"api.{concern}" for concern in ("streams", "lifecycle", "subjects", "feeds", "checkpoints")),
        *("api.snapshots", "api.liveness", "snapshots", "pagekeys", "notifications", "erasure"),
        *("feeds", "feedwriter", "feedreads", "positions", "checkpoints"),
        *(f"dynamodb.{part}" for part in ("writes", "markers", "listing", "cursor", "keys")),
        *("dynamodb.feeds", "dynamodb.feedreads", "dynamodb.checkpoints"),
        *("dynamodb.snapshots", "dynamodb.lifecycle", "dynamodb.removal", "archive", "retention"),
        *("appends", "listing", "payloadbucket"),
    )
)
_KEYS = ("erasure", "dynamodb.keys")
_STREAMS = ("api.streams", "appends")  # api.streams builds the appends' values
_WRITES = (*_STREAMS, "dynamodb.writes", "dynamodb.markers", *_KEYS, "payloadbucket")
_FEED_ITEMS = ("feeds", "dynamodb.feeds")
OWN_CONCERN = {
    "append_event": _WRITES,
    "create_stream": _WRITES,
    "read_events": (*_STREAMS, *_KEYS, "payloadbucket"),
    "list_streams": (*_STREAMS, "listing", "dynamodb.listing", "pagekeys"),
    "delete_stream": ("api.lifecycle", "dynamodb.lifecycle"),
    "stream_metadata": ("api.lifecycle", "dynamodb.lifecycle"),
    "describe_data_subject": ("api.subjects", *_KEYS),
    "erase_data_subject": ("api.subjects", *_KEYS),
    "read_feed": (
        "api.feeds",
        *_FEED_ITEMS,
        "feedreads",
        "dynamodb.feedreads",
        "positions",
        *_KEYS,
        "payloadbucket",
    ),
    "checkpoints": ("api.checkpoints", "checkpoints", "dynamodb.checkpoints", "positions"),
    "snapshots": ("api.snapshots", "snapshots", "dynamodb.snapshots", *_KEYS),
    "liveness_check": ("api.liveness",),
    "notify_stream": (
        *("notifications", *_FEED_ITEMS, "feedwriter"),
        *("dynamodb.cursor", "dynamodb.markers", "dynamodb.lifecycle"),
    ),
    "remove_expired": ("dynamodb.removal", "archive", "retention"),
}


def test_every_function_says_what_its_init_loads() -> None:
    assert set(OWN_CONCERN) == set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_init_loads_its_own_concern_and_no_other(function: str) -> None:
    """A function's init imports the operations, values and storage of its own routes: not another
    concern's (their dataclasses alone cost ~0.6 ms each), and not too few (their first request would pay)."""
    loaded = _loaded_at_init(function, set(CONCERN_MODULES))
    assert sorted(loaded) == sorted(f"eventstore.{name}" for name in OWN_CONCERN.get(function, ()))


@pytest.fixture
def fresh_session() -> Iterator[None]:
    service.aws_session.cache_clear()
    yield
    service.aws_session.cache_clear()


@pytest.mark.usefixtures("fresh_session")
def test_clients_keep_the_sdk_configuration_and_the_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    client = service.dynamodb_client()
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    options = {name: getattr(client.meta.config, name) for name in _OPTIONS}
    assert options == {
        "retries": {"mode": "standard", "total_max_attempts": 5},  # max_attempts 4 = 4 retries
        "connect_timeout": 2,
        "read_timeout": 5,
        "tcp_keepalive": True,
    }
    assert service.sns_client().meta.endpoint_url == "http://127.0.0.1:4566"


_TRACED = """import sys, types
sys.path[:0] = [{shared!r}]
from eventstore import observability, service
client = service.dynamodb_client()
observability.instrument_aws_sdk()
print(type(type(client)._make_api_call) is not types.FunctionType, "asyncio" in sys.modules)
"""


def test_the_first_invocation_traces_the_clients_created_at_init() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "append_event",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    }
    code = _TRACED.format(shared=str(ROOT / "shared"))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    # Traced, and without asyncio: wrapt 2 imports it, ~15 ms more on the first request (layer.txt).
    assert result.stdout.split() == ["True", "False"]


_AHEAD = """import sys, types
sys.path[:0] = [{shared!r}, {folder!r}]
import handler
from eventstore import service
client = service.dynamodb_client()
print("aws_xray_sdk" in sys.modules, type(type(client)._make_api_call) is not types.FunctionType)
"""


@pytest.mark.parametrize(
    ("initialization", "instrumented"),
    [("snap-start", "True True"), ("provisioned-concurrency", "True True"), ("on-demand", "False False")],
)
def test_init_instruments_the_sdk_only_when_it_runs_ahead_of_requests(
    initialization: str, instrumented: str
) -> None:
    """Under SnapStart the X-Ray import lands in the snapshot; on demand it waits for the first call."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EVENTSTORE_"))}
    env |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "read_events",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
        "EVENTSTORE_TABLE_NAME": "events",
        "EVENTSTORE_KEYS_TABLE_NAME": "keys",
        "EVENTSTORE_PAYLOAD_BUCKET": "payloads",
        "EVENTSTORE_DATA_KEY_KMS_KEY_ID": "1234abcd-12ab-34cd-56ef-1234567890ab",
    }
    code = _AHEAD.format(shared=str(ROOT / "shared"), folder=str(ROOT / "functions" / "read_events"))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == instrumented
