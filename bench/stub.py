"""A stand-in for DynamoDB, SNS and KMS: canned HTTP responses returned from botocore's `before-send` event.

The client still serializes, signs and parses as it would against AWS; only the network is skipped. The
answers make every API operation succeed: a Query finds one commit (revision 1) of the saved stream event
tests/events/dynamodb_stream_commits.json (a feed's Query finds nothing), a PutItem or UpdateItem is
accepted, SNS publishes everything; the data-subject keys table has no subject yet and KMS makes a data key.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from bench.harness import EVENTS, KEYS_TABLE, stream_event
from tests.support import proxy_event


@cache
def commit_item() -> dict[str, Any]:
    """A commit at revision 1 (also what a Query of the listing index finds)."""
    records = json.loads((EVENTS / "dynamodb_stream_commits.json").read_text())["Records"]
    item: dict[str, Any] = dict(records[0]["dynamodb"]["NewImage"])
    return item


def stream_id() -> str:
    value: str = commit_item()["streamId"]["S"]
    return value


def _dynamodb_answer(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    if operation == "Query" and ":feed" in request.get("ExpressionAttributeValues", {}):
        return {"Items": [], "Count": 0, "ScannedCount": 0}  # the feeds are empty: item 1 comes next
    if operation == "Query":
        return {"Items": [commit_item()], "Count": 1, "ScannedCount": 1}
    if operation == "GetItem":
        return {} if request.get("TableName") == KEYS_TABLE else {"Item": commit_item()}
    if operation == "BatchGetItem":
        return {"Responses": {}, "UnprocessedKeys": {}}
    return {}


def _kms_answer(operation: str) -> dict[str, Any]:
    if operation != "GenerateDataKey":
        raise ValueError(f"the stub does not answer KMS {operation}")
    return {
        "Plaintext": base64.b64encode(os.urandom(32)).decode(),
        "CiphertextBlob": base64.b64encode(os.urandom(184)).decode(),
        "KeyId": "stub",
    }


def _sns_answer(body: bytes) -> bytes:
    form = parse_qs(body.decode())
    ids = sorted(
        v[0]
        for k, v in form.items()
        if k.startswith("PublishBatchRequestEntries.member.") and k.endswith(".Id")
    )
    members = "".join(f"<member><Id>{i}</Id><MessageId>{uuid.uuid4()}</MessageId></member>" for i in ids)
    return (
        '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
        f"<Successful>{members}</Successful><Failed/></PublishBatchResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></PublishBatchResponse>"
    ).encode()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def answer(request: Any, **_: Any) -> AWSResponse:
    target = request.headers.get("X-Amz-Target")
    if target:
        service, _sep, operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")
        raw = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if service == "TrentService":
            body = json.dumps(_kms_answer(operation)).encode()
            content_type = "application/x-amz-json-1.1"
        else:
            body = json.dumps(_dynamodb_answer(operation, json.loads(raw or b"{}"))).encode()
            content_type = "application/x-amz-json-1.0"
    else:
        raw = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        body = _sns_answer(raw)
        content_type = "text/xml"
    headers = HTTPHeaders()
    headers["Content-Type"] = content_type
    headers["x-amzn-RequestId"] = str(uuid.uuid4())
    headers["Content-Length"] = str(len(body))
    return AWSResponse(request.url, 200, headers, _Raw(body))


def install(events: Any) -> None:
    """Answer every request of the clients on this event emitter (a client's or a session's)."""
    events.register("before-send", answer)


SEALED_APPEND = "append_event, data subject"
"""The cold start whose first invocation appends an event with a data subject (cryptography, a new key)."""


def invocation_event(function: str) -> dict[str, Any]:  # noqa: PLR0911 - one return per function
    """The request a first invocation of each function answers (succeeding against the stub)."""
    ids = {"streamType": "order", "streamId": stream_id()}
    event: dict[str, Any] = {"eventType": "OrderPaid", "payload": {"amount": 12}}
    if function == SEALED_APPEND:
        function, event = "append_event", event | {"dataSubject": "customer-1"}
    match function:
        case "create_stream":
            return proxy_event(
                "POST", "/streams/{streamType}", {"streamType": "order"}, body={"initialEvent": event}
            )
        case "append_event":
            params = {**ids, "revision": "2"}
            return proxy_event(
                "PUT", "/streams/{streamType}/{streamId}/events/{revision}", params, body={"event": event}
            )
        case "read_events":
            return proxy_event(
                "GET", "/streams/{streamType}/{streamId}/events", ids, query={"after-revision": "0"}
            )
        case "list_streams":
            return proxy_event("GET", "/streams/{streamType}", {"streamType": "order"})
        case "liveness_check":
            return proxy_event("GET", "/liveness-check")
        case "notify_stream":
            return stream_event([commit_item()])
        case "read_feed":
            return proxy_event("GET", "/streams/{streamType}/feed", {"streamType": "order"})
        case "checkpoints":
            body = {"position": "0123456789-000000000001-000000"}
            return proxy_event("PUT", "/checkpoints/{name}", {"name": "orders-view"}, body=body)
        case _:
            return _stream_request(function, ids)


_STREAM_REQUESTS: dict[str, tuple[str, str, Any]] = {
    "delete_stream": ("DELETE", "/streams/{streamType}/{streamId}", None),
    "stream_metadata": ("GET", "/streams/{streamType}/{streamId}/metadata", None),
    "snapshots": (
        "PUT",
        "/streams/{streamType}/{streamId}/snapshot",
        {"revision": 1, "snapshotType": "order-v1", "state": {"paid": 12}},
    ),
}


def _stream_request(function: str, ids: dict[str, str]) -> dict[str, Any]:
    """The first invocation of the functions of one stream's lifecycle and snapshot routes."""
    if function not in _STREAM_REQUESTS:
        raise ValueError(function)
    method, resource, body = _STREAM_REQUESTS[function]
    return proxy_event(method, resource, ids, body=body)
