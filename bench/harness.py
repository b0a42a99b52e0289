"""What the measurements share: handler loading, API Gateway and DynamoDB Streams events, request counting."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"
EVENTS = ROOT / "tests" / "events"
REGION = "us-east-1"
TABLE = "bench-events"
TOPIC_NAME = "bench-notifications"
KEYS_TABLE = "bench-data-subject-keys"
PAYLOAD_BUCKET = "bench-payloads"
DATA_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
PAGE_KEY_SECRET = "bench-page-key-secret-0123456789abcdef"  # noqa: S105 - a fake, for moto

# The functions' configuration as Terraform sets it (table, topic, page-key secret), plus fake credentials.
FUNCTION_ENVIRONMENT: Mapping[str, str] = {
    "EVENTSTORE_TABLE_NAME": TABLE,
    "EVENTSTORE_PAGE_KEY_SECRET": PAGE_KEY_SECRET,
    "EVENTSTORE_TOPIC_ARN": f"arn:aws:sns:{REGION}:123456789012:{TOPIC_NAME}",
    "EVENTSTORE_LISTING_SETTLE_SECONDS": "0",
    "EVENTSTORE_KEYS_TABLE_NAME": KEYS_TABLE,
    "EVENTSTORE_PAYLOAD_BUCKET": PAYLOAD_BUCKET,
    "EVENTSTORE_DATA_KEY_KMS_KEY_ID": f"arn:aws:kms:{REGION}:123456789012:key/{DATA_KEY_ID}",
    "POWERTOOLS_SERVICE_NAME": "eventstore",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

# Set on AWS but not here: tracing would try to reach a daemon; an endpoint would bypass moto.
_CLEARED = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_XRAY_DAEMON_ADDRESS", "AWS_ENDPOINT_URL", "AWS_PROFILE")


@contextlib.contextmanager
def function_environment(**extra: str) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(FUNCTION_ENVIRONMENT)
    os.environ.update(extra)
    for name in _CLEARED:
        os.environ.pop(name, None)
    if str(SHARED) not in sys.path:
        sys.path.insert(0, str(SHARED))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stream_event(commit_items: Sequence[Mapping[str, Any]], *, first_sequence: int = 1) -> dict[str, Any]:
    """A DynamoDB Streams batch (NEW_IMAGE) carrying the INSERT of each commit item, in this order."""
    records = []
    for offset, item in enumerate(commit_items):
        keys = {"streamId": item["streamId"], "revision": item["revision"]}
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "Keys": keys,
                    "NewImage": dict(item),
                    "SequenceNumber": str(10**20 + first_sequence + offset),
                    "SizeBytes": 1,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": f"arn:aws:dynamodb:{REGION}:123456789012:table/{TABLE}/stream/x",
            }
        )
    return {"Records": records}


class RequestCounter:
    """Counts API calls (`before-call`) and HTTP attempts (`before-send`) per service and operation.

    Register it on a session before the clients are created (clients copy the session's handlers).
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()

    def register(self, events: Any) -> None:
        events.register("before-call", self._call)
        events.register("before-send", self._send)

    def _call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def _send(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        name = target.rsplit(".", 1)[-1] if target else "query-protocol"
        self.attempts[name] += 1

    @contextlib.contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        """The calls made inside the block."""
        before = self.calls.copy()
        measured: Counter[str] = Counter()
        yield measured
        measured.update(self.calls - before)


def by_service(calls: Mapping[str, int], service: str) -> int:
    return sum(n for name, n in calls.items() if name.startswith(f"{service}."))


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence the functions' log and EMF lines (they still do the work of writing them)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with Path(os.devnull).open("w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
