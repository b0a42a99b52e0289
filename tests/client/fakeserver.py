"""A tiny in-process event store API for the client's unit tests (stdlib http.server on 127.0.0.1).

It verifies every request's SigV4 signature by re-signing it with botocore, speaks the wire contract of
openapi.yaml (problem+json, paging, idempotent replays) and can be told to fail the next requests.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "fake-secret-key"
REGION = "eu-west-1"
PROBLEM = "urn:eventstore:problem:"
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


@dataclass
class StreamState:
    stream_type: str
    events: list[dict[str, Any]] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self, stream_id: str) -> dict[str, Any]:
        return {
            "streamId": stream_id,
            "streamType": self.stream_type,
            "revision": len(self.events),
            "updatedAt": self.updated_at.isoformat().replace("+00:00", "Z"),
        }


class ApiError(Exception):
    def __init__(self, status: int, kind: str, **extra: Any) -> None:
        super().__init__(kind)
        self.status, self.kind, self.extra = status, kind, extra


class FakeEventStore:
    def __init__(self) -> None:
        self.streams: dict[str, StreamState] = {}
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self.signature_errors: list[str] = []
        self.lock = threading.Lock()
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def _tick(self) -> datetime:
        self._clock += timedelta(seconds=1)  # strictly increasing updatedAt keeps the listing order exact
        return self._clock

    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        match parts:
            case ["streams", stream_type] if method == "POST":
                return self._create(stream_type, body)
            case ["streams", stream_type] if method == "GET":
                return self._list(stream_type, query)
            case ["streams", stream_type, stream_id, "events"] if method == "POST":
                return self._append(stream_type, stream_id, body["expectedRevision"], body["events"])
            case ["streams", stream_type, stream_id, "events", revision] if method == "PUT":
                return self._append(stream_type, stream_id, int(revision) - 1, [body["event"]])
            case ["streams", stream_type, stream_id, "events"] if method == "GET":
                return self._read(stream_type, stream_id, query)
            case ["streams", stream_type, stream_id, "details"] if method == "GET":
                return 200, {}, {"stream": self._stream(stream_type, stream_id).to_json(stream_id)}
        raise ApiError(400, "invalid-request", detail=f"no route {method} {path}")

    def _stream(self, stream_type: str, stream_id: str) -> StreamState:
        stream = self.streams.get(stream_id)
        if stream is None or stream.stream_type != stream_type:
            raise ApiError(404, "stream-not-found")
        return stream

    def _create(self, stream_type: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        events = body.get("events") or [body["initialEvent"]]
        for event in events:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", event.get("eventType", "")):
                raise ApiError(
                    400,
                    "invalid-request",
                    **{"invalid-params": [{"name": "/body/events/0/eventType", "reason": "bad type"}]},
                )
        stream_id = body.get("streamId") or str(uuid.uuid5(uuid.NAMESPACE_URL, events[0]["eventId"]))
        if stream_id in self.streams:
            if self.streams[stream_id].stream_type != stream_type:  # ids are unique across types
                detail = f"stream id {stream_id} is already used by another stream type"
                raise ApiError(409, "stream-already-exists", detail=detail)
            return self._append(stream_type, stream_id, 0, events, exists_kind="stream-already-exists")
        self.streams[stream_id] = StreamState(stream_type)
        return self._append(stream_type, stream_id, 0, events)

    def _append(
        self,
        stream_type: str,
        stream_id: str,
        expected: int | str,
        events: list[dict[str, Any]],
        exists_kind: str = "wrong-expected-revision",
    ) -> tuple[int, dict[str, str], Any]:
        stream = self._stream(stream_type, stream_id)
        current = len(stream.events)
        if expected not in ("any", current):
            start = int(expected)
            previous = [e["eventId"] for e in stream.events[start : start + len(events)]]
            if previous == [e["eventId"] for e in events]:
                replay = {"stream": stream.to_json(stream_id) | {"revision": start + len(events)}}
                return 201, {"Idempotent-Replay": "true"}, replay
            raise ApiError(409, exists_kind, currentRevision=current)
        now = self._tick()
        for offset, event in enumerate(events, start=current + 1):
            stream.events.append(
                {
                    "streamId": stream_id,
                    "revision": offset,
                    "eventId": event["eventId"],
                    "eventType": event["eventType"],
                    "payload": event.get("payload"),
                    "metadata": {
                        **event.get("metadata", {}),
                        "principal": "arn:aws:iam::123456789012:user/t",
                    },
                    "createdAt": now.isoformat().replace("+00:00", "Z"),
                }
            )
        stream.updated_at = now
        return (
            201,
            {"Location": f"/streams/{stream_type}/{stream_id}/events"},
            {"stream": stream.to_json(stream_id)},
        )

    def _read(
        self, stream_type: str, stream_id: str, query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        stream = self._stream(stream_type, stream_id)
        after, limit = int(query.get("after-revision", 0)), int(query.get("limit", 100))
        page = stream.events[after : after + limit]
        last = page[-1]["revision"] if page else after
        page_body = {"events": page, "hasMore": last < len(stream.events), "lastEvaluatedRevision": last}
        return 200, {}, {"eventPage": page_body}

    def _list(self, stream_type: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        after = datetime.fromisoformat(query["updated-after"]) if "updated-after" in query else None
        matching = sorted(
            (s.updated_at, stream_id)
            for stream_id, s in self.streams.items()
            if s.stream_type == stream_type and (after is None or s.updated_at > after)
        )
        offset = (
            int(base64.urlsafe_b64decode(query["stream-next-page-key"]))
            if "stream-next-page-key" in query
            else 0
        )
        limit = int(query.get("limit", 100))
        page = [self.streams[i].to_json(i) for _, i in matching[offset : offset + limit]]
        has_more = offset + limit < len(matching)
        body: dict[str, Any] = {"streams": page, "hasMore": has_more}
        if has_more:
            body["nextPageKey"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        return 200, {}, {"streamPage": body}


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
                status, extra, document = store.handle(method, split.path, query, body)
                content_type = "application/json"
            except ApiError as exc:
                status, extra, content_type = exc.status, {}, "application/problem+json"
                document = {"type": PROBLEM + exc.kind, "title": exc.kind, "status": exc.status, **exc.extra}
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
        data = json.dumps(document).encode()
        self.send_response(status)
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
