"""The original service's Go client against this store (docs/compatibility.md).

Two ways. The replay sends its requests as Go's net/http sends them, unsigned, to the local store without
--require-iam, and decodes every answer into its types with encoding/json's rules. The Go test compiles
the SigV4 transport shown in docs/compatibility.md with a stand-in for the client (go_client/main.go) and
runs it against the local store with --require-iam; it needs `go` and aws-sdk-go-v2 from Debian
(`make go-toolchain`, part of `make test`).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import time
import typing
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest

from eventstore import timefmt
from local_runtime import REPO_ROOT
from local_runtime.testing import LocalStore, launch

# Go's encoding/json, for the client's types -------------------------------------------------------


class GoDecodeError(ValueError):
    """What json.Unmarshal would return: the client could not read this answer."""


@dataclass(frozen=True)
class Json:
    """A struct field's json tag: `json:"name"`, or `json:"name,string"` (a number sent as a string)."""

    name: str
    string: bool = False


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _zero(kind: Any) -> Any:
    if typing.get_origin(kind) is list:
        return []
    if isinstance(kind, type) and is_dataclass(kind):
        return go_decode(kind, {})
    return {str: "", int: 0, bool: False, datetime: _GO_ZERO_TIME}[kind]


def _scalar(kind: Any, value: Any, where: str) -> Any:
    # bool is an int in Python, never in Go; a float (2.0, 1e3) does not fit a Go int.
    if kind in (str, int, bool) and type(value) is kind:
        return value
    if kind is datetime and isinstance(value, str) and _RFC3339.fullmatch(value):
        return timefmt.parse(value)
    raise GoDecodeError(f"{where}: cannot unmarshal {type(value).__name__} {value!r} into Go type {kind}")


def _value(kind: Any, value: Any, tag: Json, where: str) -> Any:
    """One value into a Go type; JSON null leaves the zero value, as encoding/json does."""
    if value is None:
        return _zero(kind)
    if tag.string:  # `json:",string"`: an int inside a JSON string
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise GoDecodeError(f"{where}: invalid use of ,string struct tag, trying to unmarshal {value!r}")
        return int(value)
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise GoDecodeError(f"{where}: cannot unmarshal {type(value).__name__} into a slice")
        (item,) = typing.get_args(kind)
        return [_value(item, v, Json(""), f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(kind, type) and is_dataclass(kind):
        return go_decode(kind, value, where)
    return _scalar(kind, value, where)


def go_decode[T](cls: type[T], data: Any, where: str = "") -> T:
    """Decode like json.Unmarshal into a struct: keys match json tags exactly or else case-insensitively
    (a later key overwrites an earlier one), unknown keys are ignored, missing fields keep zero values."""
    if not isinstance(data, dict):
        raise GoDecodeError(f"{where or '/'}: cannot unmarshal {type(data).__name__} into Go struct {cls}")
    hints = typing.get_type_hints(cls, include_extras=True)
    # Each field is Annotated[<Go type>, Json(<tag>)].
    members = {name: typing.get_args(hint) for name, hint in hints.items()}
    by_tag = {tag.name: (name, kind, tag) for name, (kind, tag) in members.items()}
    values = {name: _zero(kind) for name, (kind, _) in members.items()}
    for key, value in data.items():
        match = by_tag.get(key) or next(
            (m for t, m in by_tag.items() if t.casefold() == key.casefold()), None
        )
        if match is not None:
            name, kind, tag = match
            values[name] = _value(kind, value, tag, f"{where}/{key}")
    return cls(**values)


# estypes, as the original client declares them (payloads are strings) ------------------------------


@dataclass(frozen=True)
class Stream:
    stream_id: Annotated[str, Json("streamId")]
    stream_type: Annotated[str, Json("streamType")]
    revision: Annotated[int, Json("revision")]
    updated_at: Annotated[datetime, Json("updatedAt")]


@dataclass(frozen=True)
class Event:
    stream_id: Annotated[str, Json("streamId")]
    revision: Annotated[int, Json("revision")]
    event_type: Annotated[str, Json("eventType")]
    payload: Annotated[str, Json("payload")]
    created_at: Annotated[datetime, Json("createdAt")]


@dataclass(frozen=True)
class EventPage:
    events: Annotated[list[Event], Json("events")]
    has_more: Annotated[bool, Json("hasMore")]
    last_evaluated_revision: Annotated[int, Json("lastEvaluatedRevision")]


@dataclass(frozen=True)
class StreamPage:
    streams: Annotated[list[Stream], Json("streams")]
    has_more: Annotated[bool, Json("hasMore")]
    next_page_key: Annotated[str, Json("nextPageKey")]


@dataclass(frozen=True)
class StreamResponse:
    stream: Annotated[Stream, Json("stream")]


@dataclass(frozen=True)
class EventPageResponse:
    event_page: Annotated[EventPage, Json("eventPage")]


@dataclass(frozen=True)
class StreamPageResponse:
    stream_page: Annotated[StreamPage, Json("streamPage")]


@dataclass(frozen=True)
class Notification:
    stream_id: Annotated[str, Json("StreamId")]
    stream_type: Annotated[str, Json("StreamType")]
    stream_revision: Annotated[int, Json("StreamRevision", string=True)]


def test_the_go_decoder_refuses_what_encoding_json_refuses() -> None:
    event = {"streamId": "s", "revision": 1, "eventType": "T", "createdAt": "2026-11-27T13:33:40.123456Z"}
    assert go_decode(Event, {**event, "payload": "x", "eventId": "ignored"}).payload == "x"
    assert go_decode(Event, {**event, "payload": None}).payload == ""
    for payload in ({"orderId": 42}, 42, ["x"], True):
        with pytest.raises(GoDecodeError, match="payload"):
            go_decode(Event, {**event, "payload": payload})
    with pytest.raises(GoDecodeError, match="revision"):
        go_decode(Event, {**event, "revision": 2.0})
    with pytest.raises(GoDecodeError, match="StreamRevision"):
        go_decode(Notification, {"StreamId": "s", "StreamType": "t", "StreamRevision": 18})
    later_key_wins = {"StreamId": "a", "streamid": "b", "StreamType": "t", "StreamRevision": "18"}
    assert go_decode(Notification, later_key_wins) == Notification("b", "t", 18)


# Go's net/http and the client's requests ------------------------------------------------------------


def go_marshal(value: Any) -> bytes:
    """json.Marshal: compact, UTF-8, with <, >, &, U+2028 and U+2029 escaped (its HTML-safe default)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}.items():
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def rfc3339nano(unix_ns: int) -> str:
    """time.Time.UTC().Format(time.RFC3339Nano): up to 9 fraction digits, trailing zeros trimmed."""
    seconds, nanos = divmod(unix_ns, 10**9)
    fraction = f"{nanos:09d}".rstrip("0")
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}{'.' + fraction if fraction else ''}Z"


@dataclass(frozen=True)
class GoResponse:
    status: int
    text: str
    """The body as text: the client parses success bodies and keeps error bodies as they are."""

    def decode[T](self, cls: type[T]) -> T:
        return go_decode(cls, json.loads(self.text))


class GoHttp:
    """Requests with the headers Go's http.Client sends (HTTP/1.1, keep-alive, gzip accepted), unsigned."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)

    def send(self, method: str, path: str, body: bytes | None = None) -> GoResponse:
        self._connection.putrequest(method, path, skip_accept_encoding=True)  # Host: as Go sends it
        self._connection.putheader("User-Agent", "Go-http-client/1.1")
        if body is not None:
            self._connection.putheader("Content-Length", str(len(body)))
            self._connection.putheader("Content-Type", "application/json")
        self._connection.putheader("Accept-Encoding", "gzip")
        self._connection.endheaders(body)
        reply = self._connection.getresponse()
        data = reply.read()
        if reply.getheader("Content-Encoding") == "gzip":  # Go's transport unzips transparently
            data = gzip.decompress(data)
        return GoResponse(reply.status, data.decode())

    def close(self) -> None:
        self._connection.close()


class OriginalClient:
    """eshttp's calls, one method each: the same paths, query parameters and bodies."""

    def __init__(self, base_url: str) -> None:
        self.http = GoHttp(base_url)

    def create_stream(self, stream_type: str, event_type: str, payload: str) -> GoResponse:
        body = {"initialEvent": {"eventType": event_type, "payload": payload}}
        return self.http.send("POST", f"/streams/{stream_type}", go_marshal(body))

    def append_event(
        self, stream_type: str, stream_id: str, revision: int, event_type: str, payload: str
    ) -> GoResponse:
        body = go_marshal({"event": {"eventType": event_type, "payload": payload}})
        return self.http.send("PUT", f"/streams/{stream_type}/{stream_id}/events/{revision}", body)

    def get_events(self, stream_type: str, stream_id: str, after_revision: int) -> GoResponse:
        return self.http.send(
            "GET", f"/streams/{stream_type}/{stream_id}/events?after-revision={after_revision}"
        )

    def get_streams(self, stream_type: str, updated_after_ns: int, next_page_key: str) -> GoResponse:
        query = {"updated-after": rfc3339nano(updated_after_ns)}
        if next_page_key:
            query["nextPageKey"] = next_page_key
        # url.Values.Encode: keys sorted, QueryEscape (":" as %3A, space as +).
        return self.http.send("GET", f"/streams/{stream_type}?{urlencode(sorted(query.items()))}")

    def get_details(self, stream_type: str, stream_id: str) -> GoResponse:
        return self.http.send("GET", f"/streams/{stream_type}/{stream_id}/details")


def test_the_go_formats_are_go_s() -> None:
    assert rfc3339nano(1_764_250_420_123_456_789) == "2025-11-27T13:33:40.123456789Z"
    assert rfc3339nano(1_764_250_420_120_000_000) == "2025-11-27T13:33:40.12Z"
    assert rfc3339nano(1_764_250_420_000_000_000) == "2025-11-27T13:33:40Z"
    assert (
        go_marshal({"payload": "<a & b>\u2028ü"}) == b'{"payload":"\\u003ca \\u0026 b\\u003e\\u2028\xc3\xbc"}'
    )


# The replay -----------------------------------------------------------------------------------------

MAX_PAGES = 10
"""A page key the server ignored would repeat page one forever."""
FIRST_PAYLOAD = '{"orderId":42,"note":"<a & b> \u2028 ü"}'


@pytest.fixture(scope="module")
def unsigned_store() -> Iterator[LocalStore]:
    """`make run` as a developer starts it: no --require-iam, so unsigned requests are served."""
    with launch(require_iam=False) as store:
        yield store


@pytest.fixture
def client(unsigned_store: LocalStore) -> Iterator[OriginalClient]:
    client = OriginalClient(unsigned_store.api_url)
    yield client
    client.http.close()


def _list_all(client: OriginalClient, stream_type: str, since_ns: int) -> tuple[list[Stream], int]:
    """GetStreams's loop: pass nextPageKey back until hasMore is false."""
    streams: list[Stream] = []
    key = ""
    for pages in range(1, MAX_PAGES + 1):
        response = client.get_streams(stream_type, since_ns, key)
        assert response.status == 200, response.text
        page = response.decode(StreamPageResponse).stream_page
        streams += page.streams
        if not page.has_more:
            return streams, pages
        key = page.next_page_key
    pytest.fail(f"the listing did not end after {MAX_PAGES} pages: the page key was not honoured")


@pytest.mark.slow
def test_the_original_client_s_requests_are_served_and_its_types_decode_every_answer(
    client: OriginalClient, unsigned_store: LocalStore
) -> None:
    stream_type = f"Order{uuid.uuid4().hex[:12]}"
    since_ns = time.time_ns() | 1  # odd: all nine fraction digits are sent
    payloads = [FIRST_PAYLOAD, *(json.dumps({"n": n}) for n in range(1, 101))]
    created: list[Stream] = []
    for payload in payloads:  # one more stream than the 100 of a page
        response = client.create_stream(stream_type, "OrderPlaced", payload)
        assert response.status == 201, response.text
        created.append(response.decode(StreamResponse).stream)
    first = created[0]
    assert (first.stream_type, first.revision) == (stream_type, 1)

    appended = client.append_event(stream_type, first.stream_id, 2, "OrderPaid", '"10.00"')
    assert appended.status == 201, appended.text
    assert appended.decode(StreamResponse).stream.revision == 2
    stale = client.append_event(stream_type, first.stream_id, 2, "OrderPaid", "{}")
    assert stale.status == 409
    assert "wrong-expected-revision" in stale.text  # kept as raw text by the client

    # Setup only (not a call of the Go client): 100 more events, so reading them takes two pages.
    batch = {
        "expectedRevision": 2,
        "events": [{"eventType": "OrderNoted", "payload": str(n)} for n in range(100)],
    }
    assert (
        client.http.send("POST", f"/streams/{stream_type}/{first.stream_id}/events", go_marshal(batch)).status
        == 201
    )

    events: list[Event] = []
    after, pages = 0, 0
    while pages < MAX_PAGES:
        response = client.get_events(stream_type, first.stream_id, after)
        assert response.status == 200, response.text
        page = response.decode(EventPageResponse).event_page
        events += page.events
        pages += 1
        if not page.has_more:
            break
        after = page.last_evaluated_revision
    assert pages == 2
    assert [e.revision for e in events] == list(range(1, 103))
    assert [e.payload for e in events] == [FIRST_PAYLOAD, '"10.00"', *(str(n) for n in range(100))]

    details = client.get_details(stream_type, first.stream_id)
    assert details.status == 200, details.text
    assert details.decode(StreamResponse).stream.revision == 102

    deadline = time.monotonic() + 20  # the listing shows an update once it is about a second old
    while True:
        listed, pages = _list_all(client, stream_type, since_ns)
        if len({s.stream_id for s in listed}) == len(created) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {s.stream_id for s in listed} == {s.stream_id for s in created}
    assert pages >= 2
    assert {s.stream_type for s in listed} == {stream_type}

    forged = client.get_streams(stream_type, since_ns, "e30.AAAA")
    assert forged.status == 400
    assert "/query/nextPageKey" in forged.text


@pytest.mark.slow
def test_a_notification_decodes_into_the_original_subscriber_s_type(
    client: OriginalClient, unsigned_store: LocalStore
) -> None:
    sqs = boto3.client("sqs", **unsigned_store.boto3_kwargs())
    sns = boto3.client("sns", **unsigned_store.boto3_kwargs())
    stream_type = f"Order{uuid.uuid4().hex[:12]}"
    queue_url = sqs.create_queue(QueueName=f"go-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=unsigned_store.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"StreamType": [stream_type]})},
    )
    created = client.create_stream(stream_type, "OrderPlaced", "{}").decode(StreamResponse).stream
    messages: list[Any] = []
    deadline = time.monotonic() + 20
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert messages, "no notification arrived"
    envelope: Mapping[str, Any] = json.loads(messages[0]["Body"])
    assert go_decode(Notification, json.loads(envelope["Message"])) == Notification(
        created.stream_id, stream_type, 1
    )


# The Go test ---------------------------------------------------------------------------------------

GO_CLIENT = Path(__file__).parent / "go_client" / "main.go"
COMPATIBILITY_DOC = REPO_ROOT / "docs" / "compatibility.md"
GO_PATH = Path("/usr/share/gocode")
"""Where Debian's golang-*-dev packages put their sources (GOPATH mode: no module proxy needed)."""
SIGNER = GO_PATH / "src/github.com/aws/aws-sdk-go-v2/aws/signer/v4"


def _signing_transport() -> str:
    blocks = re.findall(r"```go\n(.*?)```", COMPATIBILITY_DOC.read_text(), flags=re.DOTALL)
    (transport,) = [b for b in blocks if b.lstrip().startswith("// Package sigv4")]
    return str(transport)


@pytest.mark.slow
def test_the_documented_signing_transport_lets_the_go_client_call_the_iam_protected_api(
    local_store: LocalStore, tmp_path: Path
) -> None:
    go_binary = shutil.which("go")
    if go_binary is None or not SIGNER.is_dir():
        pytest.skip(
            "needs go and aws-sdk-go-v2 from Debian (golang-go, golang-github-aws-aws-sdk-go-v2-dev): "
            "run make go-toolchain"
        )
    sources = tmp_path / "src" / "example.com"
    (sources / "sigv4").mkdir(parents=True)
    (sources / "sigv4" / "sigv4.go").write_text(_signing_transport())
    (sources / "go_client").mkdir()
    shutil.copy(GO_CLIENT, sources / "go_client" / "main.go")
    go_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GO111MODULE": "off",
        "GOPATH": f"{tmp_path}{os.pathsep}{GO_PATH}",
        "GOCACHE": str(REPO_ROOT / "build" / "go-cache"),  # later runs reuse the compiled SDK
        "GOFLAGS": "",
    }
    unformatted = subprocess.run(
        [Path(go_binary).parent / "gofmt", "-l", str(sources)], capture_output=True, text=True, check=True
    )
    assert unformatted.stdout == "", "gofmt would change these files"
    binary = tmp_path / "go_client"
    build = subprocess.run(
        [go_binary, "build", "-o", str(binary), "example.com/go_client"],
        capture_output=True,
        text=True,
        env=go_env,
        check=False,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    stream_type = f"Order{uuid.uuid4().hex[:12]}"
    credentials = {
        "AWS_ACCESS_KEY_ID": local_store.access_key,
        "AWS_SECRET_ACCESS_KEY": local_store.secret_key,
        "AWS_REGION": local_store.region,
    }
    run = subprocess.run(
        [binary, local_store.api_url, stream_type],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **credentials},
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["unsignedStatus"] == 403  # the store requires IAM, as API Gateway does
    assert sorted(report["listed"]) == sorted(report["created"])
    assert len(report["created"]) == 101
    assert report["listingPages"] >= 2  # paged with nextPageKey, and the loop ended
    assert report["eventPages"] == 2
    assert report["revisions"] == list(range(1, 103))
    assert report["payloads"][0] == FIRST_PAYLOAD
    assert report["payloads"][1:] == [json.dumps(str(n)) for n in range(2, 103)]
    assert report["details"]["revision"] == 102
    assert report["conflictStatus"] == 409
    assert json.loads(report["conflictBody"])["currentRevision"] == 102
