"""A tiny in-process event store API for the client's unit tests (stdlib http.server on 127.0.0.1).

It verifies every request's SigV4 signature by re-signing it with botocore, serves the API's routes from
the in-memory reference store (eventstore.memory) and can be told to fail the next requests.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from eventstore import http, timefmt, validation
from eventstore.api import checkpoints, feeds, lifecycle, snapshots, streams, subjects
from eventstore.api.requests import Telemetry
from eventstore.appends import AppendResult, NewEvent
from eventstore.domain import ANY_REVISION, Caller, EventStoreError, InvalidRequest
from eventstore.memory import MemoryEventStore

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "fake-secret-key"
REGION = "eu-west-1"
PROBLEM = "urn:eventstore:problem:"
CALLER = Caller(principal="arn:aws:iam::123456789012:user/t", request_id=None)
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/execute-api/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def signature_problem(method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
    """None when the request carries a valid SigV4 signature for execute-api, else what is wrong."""
    match = _AUTH.fullmatch(headers.get("authorization", ""))
    if match is None:
        return f"malformed Authorization header: {headers.get('authorization')!r}"
    amz_date = headers.get("x-amz-date", "")
    if match["key"] != ACCESS_KEY or match["region"] != REGION or match["date"] != amz_date[:8]:
        return "wrong key, region or date in the credential scope"
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed"
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{target}",
        data=body,
        headers={h: headers[h] for h in signed},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "execute-api", REGION)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return None if hmac.compare_digest(expected, match["signature"]) else "signature mismatch"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Failure:
    status: int  # 0: close the connection without answering
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after_write: bool = False  # carry the request out, then lose the answer


class FakeEventStore:
    """The API's routes over the in-memory reference store (the storage contract holds it to the DynamoDB
    store's behaviour), with the API's request schemas and problem documents; records every request."""

    def __init__(self) -> None:
        self.model = MemoryEventStore()
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.signature_errors: list[str] = []
        self.lock = threading.Lock()

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def handle(  # noqa: PLR0911 - one return per route
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        multi_query: dict[str, list[str]] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        multi_query = multi_query or {name: [value] for name, value in query.items()}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        match parts:
            case ["streams", stream_type] if method == "POST":
                validation.validate("CreateStreamRequest", body, "/body")
                return self._create(stream_type, body)
            case ["streams", stream_type] if method == "GET":
                return self._list(stream_type, query)
            case ["streams", stream_type, stream_id, "events"] if method == "POST":
                validation.validate("AppendEventsRequest", body, "/body")
                expected = body["expectedRevision"]
                expected = expected if expected == ANY_REVISION else int(expected)
                return self._written(
                    self.model.append(stream_type, stream_id, expected, _events(body["events"]), CALLER)
                )
            case ["streams", stream_type, stream_id, "events", revision] if method == "PUT":
                validation.validate("AppendEventRequest", body, "/body")
                events = _events([body["event"]])
                return self._written(
                    self.model.append(stream_type, stream_id, int(revision) - 1, events, CALLER)
                )
            case ["streams", stream_type, stream_id, "events"] if method == "GET":
                return self._read(stream_type, stream_id, query)
            case ["streams", stream_type, stream_id, "details"] if method == "GET":
                return 200, {}, {"stream": streams.stream_json(self.model.describe(stream_type, stream_id))}
            case ["data-subjects", data_subject] if method == "DELETE":
                self.model.erase_data_subject(data_subject, CALLER)
                return 204, {}, None
            case ["data-subjects", data_subject] if method == "GET":
                return 200, {}, subjects.data_subject_json(self.model.data_subject(data_subject))
        return self._feeds(method, path, parts, multi_query, body)

    def _feeds(
        self, method: str, path: str, parts: list[str], multi_query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """The feeds, checkpoints, snapshots and lifecycle routes run the API's own operations
        (eventstore.api) over the memory store."""
        operation: Callable[[MemoryEventStore, http.Request, Telemetry], http.Response]
        match parts:
            case ["feed"] if method == "GET":
                operation, params = feeds.read_feed, {}
            case ["streams", stream_type, "feed"] if method == "GET":
                operation, params = feeds.read_type_feed, {"streamType": stream_type}
            case ["checkpoints", name] if method == "GET":
                operation, params = checkpoints.get_checkpoint, {"name": name}
            case ["checkpoints", name] if method == "PUT":
                operation, params = checkpoints.put_checkpoint, {"name": name}
            case ["streams", stream_type, stream_id, "snapshot"] if method in {"GET", "PUT"}:
                operation = snapshots.get_snapshot if method == "GET" else snapshots.put_snapshot
                params = {"streamType": stream_type, "streamId": stream_id}
            case ["streams", stream_type, stream_id] if method == "DELETE":
                operation = lifecycle.delete_stream
                params = {"streamType": stream_type, "streamId": stream_id}
            case ["streams", stream_type, stream_id, "metadata"] if method in {"GET", "PUT"}:
                operation = (
                    lifecycle.get_stream_metadata if method == "GET" else lifecycle.put_stream_metadata
                )
                params = {"streamType": stream_type, "streamId": stream_id}
            case _:
                raise InvalidRequest.single("/path", f"no route {method} {path}")
        request = http.Request(
            method=method,
            resource="",
            operation=None,
            path=path,
            path_params=params,
            query={name: values[-1] for name, values in multi_query.items()},
            multi_query=multi_query,
            headers={},
            body=json.dumps(body) if body is not None else None,
            caller=CALLER,
            base_path="",
        )
        response = operation(self.model, request, _NoTelemetry())
        return response.status, dict(response.headers), response.body

    def _create(self, stream_type: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        events = _events(body["events"] if "events" in body else [body["initialEvent"]])
        stream_id = body.get("streamId") or str(uuid.uuid5(uuid.NAMESPACE_URL, events[0].event_id))
        return self._written(self.model.create(stream_type, stream_id.lower(), events, CALLER))

    @staticmethod
    def _written(result: AppendResult) -> tuple[int, dict[str, str], Any]:
        stream = result.stream
        headers = {"Location": f"/streams/{stream.stream_type}/{stream.stream_id}/details"}
        if result.replayed:
            headers["Idempotent-Replay"] = "true"
        return 201, headers, {"stream": streams.stream_json(stream)}

    def _read(
        self, stream_type: str, stream_id: str, query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        after, limit = int(query.get("after-revision", 0)), int(query.get("limit", 100))
        page = self.model.read(stream_type, stream_id, after, limit)
        page_body = {
            "events": [streams.event_json(e) for e in page.events],
            "hasMore": page.has_more,
            "lastEvaluatedRevision": page.last_evaluated_revision,
            "firstRevision": page.first_revision,
        }
        return 200, {}, {"eventPage": page_body}

    def _list(self, stream_type: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        after = timefmt.parse(query["updated-after"]) if "updated-after" in query else None
        limit = int(query.get("limit", 100))
        page = self.model.list_streams(stream_type, after, limit, query.get("stream-next-page-key"))
        body: dict[str, Any] = {
            "streams": [streams.stream_json(s) for s in page.streams],
            "hasMore": page.has_more,
        }
        if page.next_page_key is not None:
            body["nextPageKey"] = page.next_page_key
        if page.settled_until is not None:
            body["settledUntil"] = page.settled_until
        return 200, {}, {"streamPage": body}


class _NoTelemetry:
    def count(self, name: str, value: int = 1) -> None:
        pass


def _events(raw: list[dict[str, Any]]) -> list[NewEvent]:
    return [
        NewEvent(
            event_id=(event.get("eventId") or str(uuid.uuid4())).lower(),
            event_type=event["eventType"],
            payload=event.get("payload"),
            metadata=dict(event.get("metadata") or {}),
            data_subject=event.get("dataSubject"),
        )
        for event in raw
    ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        store = self.server.store
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        body = json.loads(raw) if raw else None
        with store.lock:
            store.requests.append(Recorded(method, split.path, query, headers, body))
            problem = signature_problem(method, self.path, headers, raw)
            if problem is not None:
                store.signature_errors.append(problem)
                self._send(403, {}, {"message": problem}, "application/json")
                return
            failure = store.failures.pop(0) if store.failures else None
            if failure is not None and not failure.after_write:
                self._fail(failure)
                return
            try:
                multi = parse_qs(split.query, keep_blank_values=True)
                status, extra, document = store.handle(method, split.path, query, body, multi)
                content_type = "application/json"
            except EventStoreError as exc:
                answer = http.problem(exc)
                status, extra, document = answer.status, dict(answer.headers), answer.body
                content_type = answer.content_type
            if failure is not None:
                self._fail(failure)
                return
            self._send(status, extra, document, content_type)

    def _fail(self, failure: Failure) -> None:
        if failure.status == 0:
            self.close_connection = True
            self.wfile.flush()
            self.connection.close()
            return
        body = failure.body or {
            "type": PROBLEM + "service-unavailable",
            "title": "Service unavailable",
            "status": failure.status,
        }
        self._send(failure.status, failure.headers, body, "application/problem+json")

    def _send(self, status: int, headers: dict[str, str], document: Any, content_type: str) -> None:
        data = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        if document is not None:  # a 204 has neither
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: FakeEventStore) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = store


class FakeServer:
    """Start on a free port; `url` is the base URL to give the client."""

    def __init__(self) -> None:
        self.store = FakeEventStore()
        self._server = _Server(self.store)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
