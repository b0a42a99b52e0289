"""The API Lambdas, driven by real API Gateway REST proxy events; responses checked against openapi.yaml."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from eventstore.erasure import KEY_CACHE_SECONDS
from eventstore.feedwriter import StreamCursors
from eventstore.routes import ROUTES, Route
from eventstore.table import create_table
from tests.support import PAYLOAD_BUCKET, assert_matches_schema, data_key_resources, load_handler, proxy_event

STREAMS = "/streams/{streamType}"
EVENTS = "/streams/{streamType}/{streamId}/events"
EVENT_AT = "/streams/{streamType}/{streamId}/events/{revision}"
DETAILS = "/streams/{streamType}/{streamId}/details"
SUBJECT = "/data-subjects/{dataSubject}"
SNAPSHOT = "/streams/{streamType}/{streamId}/snapshot"
API_FUNCTIONS = (
    "create_stream",
    "append_event",
    "read_events",
    "list_streams",
    "liveness_check",
    "erase_data_subject",
    "describe_data_subject",
    "read_feed",
    "checkpoints",
    "snapshots",
)

type Call = Callable[..., tuple[int, dict[str, str], Any]]


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", "events")
    monkeypatch.setenv("EVENTSTORE_PAGE_KEY_SECRET", "handler-tests-page-key-secret")
    monkeypatch.setenv("EVENTSTORE_LISTING_SETTLE_SECONDS", "0")
    with mock_aws():
        create_table(boto3.client("dynamodb"), "events")
        for name, value in data_key_resources().items():
            monkeypatch.setenv(name, value)
        yield {name: load_handler(name) for name in API_FUNCTIONS}


@pytest.fixture
def call(handlers: dict[str, ModuleType]) -> Call:
    def invoke(
        function: str, method: str, resource: str, params: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        response = handlers[function].handler(proxy_event(method, resource, params, **kw), None)
        assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
        body = json.loads(response["body"]) if response["body"] else None
        return response["statusCode"], response["headers"], body

    return invoke


def create(call: Call, stream_type: str = "order", **body: Any) -> dict[str, Any]:
    status, _, created = call(
        "create_stream",
        "POST",
        STREAMS,
        {"streamType": stream_type},
        body=body or {"initialEvent": {"eventType": "OrderPlaced", "payload": '{"orderId":42}'}},
    )
    assert status == 201, created
    stream: dict[str, Any] = created["stream"]
    return stream


def test_original_create_append_read_round_trip(call: Call) -> None:
    stream = create(call)
    assert stream["revision"] == 1
    assert stream["streamType"] == "order"
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    status, headers, appended = call(
        "append_event",
        "PUT",
        EVENT_AT,
        {**ids, "revision": "2"},
        body={"event": {"eventType": "OrderPaid", "payload": '{"amount":10}'}},
    )
    assert status == 201
    assert_matches_schema(appended, "StreamResponse")
    assert appended["stream"]["revision"] == 2
    assert headers["Location"] == f"/staging/streams/order/{stream['streamId']}/details"
    assert "Idempotent-Replay" not in headers
    status, _, page = call("read_events", "GET", EVENTS, ids, query={"after-revision": "0"})
    assert status == 200
    assert_matches_schema(page, "EventPageResponse")
    assert [(e["revision"], e["eventType"], e["payload"]) for e in page["eventPage"]["events"]] == [
        (1, "OrderPlaced", '{"orderId":42}'),
        (2, "OrderPaid", '{"amount":10}'),
    ]
    assert page["eventPage"]["hasMore"] is False
    assert page["eventPage"]["lastEvaluatedRevision"] == 2
    metadata = page["eventPage"]["events"][0]["metadata"]
    assert metadata["principal"] == "arn:aws:iam::123456789012:user/order-service"
    assert uuid.UUID(metadata["requestId"])


def test_stale_put_is_409_with_the_current_revision(call: Call) -> None:
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    status, headers, problem = call(
        "append_event", "PUT", EVENT_AT, {**ids, "revision": "1"}, body={"event": {"eventType": "X"}}
    )
    assert status == 409
    assert headers["Content-Type"] == "application/problem+json"
    assert_matches_schema(problem, "Problem")
    assert problem["type"] == "urn:eventstore:problem:wrong-expected-revision"
    assert problem["currentRevision"] == 1


def test_batch_append_and_idempotent_replay(call: Call) -> None:
    stream = create(
        call, events=[{"eventType": "Opened", "payload": {"a": 1}, "metadata": {"correlationId": "c-1"}}]
    )
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    batch: dict[str, Any] = {
        "expectedRevision": 1,
        "events": [
            {"eventType": "Added", "eventId": str(uuid.uuid4()), "payload": {"n": n}} for n in range(3)
        ],
    }
    first = call("append_event", "POST", EVENTS, ids, body=batch)
    float_revision = {"expectedRevision": 4.0, "events": [{"eventType": "Whole"}]}
    again = call("append_event", "POST", EVENTS, ids, body=batch)
    assert first[0] == again[0] == 201
    assert again[1]["Idempotent-Replay"] == "true"
    assert first[2] == again[2]
    assert first[2]["stream"]["revision"] == 4
    changed = {**batch, "events": [{**batch["events"][0], "payload": {"n": 99}}, *batch["events"][1:]]}
    status, _, problem = call("append_event", "POST", EVENTS, ids, body=changed)
    assert status == 422
    assert problem["type"] == "urn:eventstore:problem:event-id-conflict"
    assert call("append_event", "POST", EVENTS, ids, body=float_revision)[2]["stream"]["revision"] == 5
    status, _, page = call("read_events", "GET", EVENTS, ids)
    assert [e["revision"] for e in page["eventPage"]["events"]] == [1, 2, 3, 4, 5]
    assert page["eventPage"]["events"][0]["metadata"]["correlationId"] == "c-1"


def test_create_retries_with_event_ids_or_idempotency_key_return_the_same_stream(call: Call) -> None:
    body = {"initialEvent": {"eventType": "Opened", "eventId": str(uuid.uuid4())}}
    first = call("create_stream", "POST", STREAMS, {"streamType": "order"}, body=body)
    again = call("create_stream", "POST", STREAMS, {"streamType": "order"}, body=body)
    assert first[2] == again[2]
    assert again[1]["Idempotent-Replay"] == "true"
    keyed = {"initialEvent": {"eventType": "Opened"}}
    key = {"Idempotency-Key": "create-order-77"}
    one = call("create_stream", "POST", STREAMS, {"streamType": "order"}, body=keyed, headers=key)
    two = call("create_stream", "POST", STREAMS, {"streamType": "order"}, body=keyed, headers=key)
    assert one[2] == two[2]
    assert two[1]["Idempotent-Replay"] == "true"
    plain = [call("create_stream", "POST", STREAMS, {"streamType": "order"}, body=keyed) for _ in range(2)]
    assert plain[0][2]["stream"]["streamId"] != plain[1][2]["stream"]["streamId"]


def test_client_chosen_stream_id_and_details(call: Call) -> None:
    chosen = str(uuid.uuid4())
    stream = create(
        call, "invoice", streamId=chosen.upper(), events=[{"eventType": "Issued"}, {"eventType": "Sent"}]
    )
    assert stream["streamId"] == chosen
    status, _, details = call("read_events", "GET", DETAILS, {"streamType": "invoice", "streamId": chosen})
    assert status == 200
    assert_matches_schema(details, "StreamResponse")
    assert details["stream"] == stream
    status, _, problem = call("read_events", "GET", DETAILS, {"streamType": "order", "streamId": chosen})
    assert status == 404
    assert problem["type"] == "urn:eventstore:problem:stream-not-found"


@pytest.mark.parametrize(
    "key_params",
    [("stream-next-page-key",), ("nextPageKey",), ("stream-next-page-key", "nextPageKey")],
    ids=["canonical", "go-client-alias", "both-equal"],
)
def test_listing_after_notification_with_signed_page_keys(
    call: Call, handlers: dict[str, ModuleType], key_params: tuple[str, ...]
) -> None:
    created = [create(call, "cart") for _ in range(3)]
    store = handlers["append_event"].SERVICE.store
    for stream in created:
        store.move_cursors(stream["streamId"], "cart", 1, 1, StreamCursors())
    seen: list[str] = []
    key = None
    for _ in range(len(created) + 1):  # bounded: a key the server ignored would repeat page one forever
        # The first page sends the parameters empty, as Go's url.Values does with an unset key: no key.
        query = {"limit": "2", **dict.fromkeys(key_params, key or "")}
        status, _, page = call("list_streams", "GET", STREAMS, {"streamType": "cart"}, query=query)
        assert status == 200
        assert_matches_schema(page, "StreamPageResponse")
        seen.extend(s["streamId"] for s in page["streamPage"]["streams"])
        if not page["streamPage"]["hasMore"]:
            break
        key = page["streamPage"]["nextPageKey"]
    assert seen == [s["streamId"] for s in created]


def _route_call(route: Route) -> dict[str, Any]:
    """Arguments for `call` that reach the route's operation (path parameters filled in)."""
    values = {
        "streamType": "order",
        "streamId": str(uuid.uuid4()),
        "revision": "2",
        "dataSubject": "p-1",
        "name": "orders-view",
    }
    names = [segment[1:-1] for segment in route.path.split("/") if segment.startswith("{")]
    return {"method": route.method, "resource": route.path, "params": {n: values[n] for n in names} or None}


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.operation)
def test_each_function_runs_the_operation_its_route_names_and_no_other(call: Call, route: Route) -> None:
    """A route's own function answers it (here 2xx or a domain error, never 500); every other API function
    refuses it as a deployment fault (500, nothing run) instead of running its own operation on it."""
    for function in API_FUNCTIONS:
        status, _, body = call(function, **_route_call(route))
        if function == route.function:
            assert status != 500, body
        else:
            assert (status, body["type"]) == (500, "urn:eventstore:problem:internal-error"), function


def test_liveness(call: Call) -> None:
    status, _, body = call("liveness_check", "GET", "/liveness-check")
    assert status == 200
    assert_matches_schema(body, "Liveness")
    assert body["status"] == "ok"


def test_throttling_after_retries_is_a_503_with_retry_after_and_writes_nothing(
    call: Call, handlers: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = create(call)
    client = handlers["append_event"].SERVICE.store.table.client

    def throttled(**_kwargs: Any) -> Any:
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
        raise ClientError(error, "PutItem")  # type: ignore[arg-type]

    monkeypatch.setattr(client, "put_item", throttled)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    status, headers, problem = call(
        "append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body={"event": {"eventType": "X"}}
    )
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert problem["type"] == "urn:eventstore:problem:service-unavailable"
    assert call("read_events", "GET", DETAILS, ids)[2]["stream"]["revision"] == 1


def test_a_data_subjects_payloads_read_back_until_erased_then_null_and_appends_are_gone(
    call: Call, handlers: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = create(
        call,
        events=[
            {"eventType": "Registered", "payload": {"name": "Ada Lovelace"}, "dataSubject": "person-7"},
            {"eventType": "Noted", "payload": {"free": "text"}, "metadata": {"correlationId": "c-1"}},
        ],
    )
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    status, _, page = call("read_events", "GET", EVENTS, ids)
    assert status == 200
    assert_matches_schema(page, "EventPageResponse")
    first, second = page["eventPage"]["events"]
    assert (first["payload"], first["dataSubject"]) == ({"name": "Ada Lovelace"}, "person-7")
    assert "payloadErased" not in first
    assert "dataSubject" not in second
    status, _, state = call("describe_data_subject", "GET", SUBJECT, {"dataSubject": "person-7"})
    assert (status, state) == (200, {"dataSubject": "person-7", "state": "active", "erasedAt": None})

    for _ in range(2):  # idempotent
        status, headers, body = call("erase_data_subject", "DELETE", SUBJECT, {"dataSubject": "person-7"})
        assert (status, body) == (204, None)
        assert "Content-Type" not in headers
    status, _, state = call("describe_data_subject", "GET", SUBJECT, {"dataSubject": "person-7"})
    assert status == 200
    assert_matches_schema(state, "DataSubjectState")
    assert state["state"] == "erased"
    assert state["erasedAt"] is not None

    # read_events is a warm container that used the key: it may for up to KEY_CACHE_SECONDS, no longer.
    status, _, page = call("read_events", "GET", EVENTS, ids)
    assert page["eventPage"]["events"][0] == first
    keyring = handlers["read_events"].SERVICE.store.keyring
    monkeypatch.setattr(keyring, "_clock", lambda: time.monotonic() + KEY_CACHE_SECONDS)
    status, _, page = call("read_events", "GET", EVENTS, ids)
    erased, kept = page["eventPage"]["events"]
    assert_matches_schema(page, "EventPageResponse")
    assert erased == first | {"payload": None, "payloadErased": True}
    assert kept == second

    status, _, problem = call(
        "append_event",
        "POST",
        EVENTS,
        ids,
        body={"expectedRevision": 2, "events": [{"eventType": "Moved", "dataSubject": "person-7"}]},
    )
    assert status == 410
    assert problem["type"] == "urn:eventstore:problem:data-subject-erased"
    status, _, details = call("read_events", "GET", DETAILS, ids)
    assert details["stream"]["revision"] == 2  # nothing written


def test_a_data_subject_never_seen_is_not_found_and_bad_ids_are_refused(call: Call) -> None:
    status, _, problem = call("describe_data_subject", "GET", SUBJECT, {"dataSubject": "nobody"})
    assert (status, problem["type"]) == (404, "urn:eventstore:problem:data-subject-not-found")
    status, _, problem = call("erase_data_subject", "DELETE", SUBJECT, {"dataSubject": "x" * 257})
    assert (status, problem["invalid-params"][0]["name"]) == (400, "/path/dataSubject")
    status, _, problem = call(
        "create_stream",
        "POST",
        STREAMS,
        {"streamType": "order"},
        body={"initialEvent": {"eventType": "A", "dataSubject": ""}},
    )
    assert (status, problem["invalid-params"][0]["name"]) == (400, "/body/initialEvent/dataSubject")


def test_snapshot_put_get_and_its_problems(call: Call) -> None:
    stream = create(call, events=[{"eventType": "Placed"}, {"eventType": "Paid"}])
    ids = {"streamType": "order", "streamId": stream["streamId"]}

    def put(body: Any) -> tuple[int, dict[str, str], Any]:
        return call("snapshots", "PUT", SNAPSHOT, ids, body=body)

    status, _, missing = call("snapshots", "GET", SNAPSHOT, ids)
    assert (status, missing["type"]) == (404, "urn:eventstore:problem:snapshot-not-found")
    sent = {"revision": 1, "snapshotType": "order-v1", "state": {"total": 42, "note": "zürich"}}
    status, headers, written = put(sent)
    assert status == 201, written
    assert_matches_schema(written, "SnapshotWrittenResponse")
    assert "state" not in written["snapshot"]
    assert headers["Location"].endswith(f"/streams/order/{stream['streamId']}/snapshot")
    assert "Idempotent-Replay" not in headers
    status, headers, replayed = put(sent)
    assert (status, headers.get("Idempotent-Replay"), replayed) == (201, "true", written)
    status, _, got = call("snapshots", "GET", SNAPSHOT, ids)
    assert status == 200
    assert_matches_schema(got, "SnapshotResponse")
    assert got["snapshot"] == {**sent, "createdAt": written["snapshot"]["createdAt"]}

    status, _, ahead = put({**sent, "revision": 3})
    assert (status, ahead["type"], ahead["currentRevision"]) == (
        409,
        "urn:eventstore:problem:snapshot-beyond-revision",
        2,
    )
    assert put({**sent, "revision": 2})[0] == 201
    status, _, stale = put(sent)
    assert (status, stale["type"], stale["storedRevision"]) == (
        409,
        "urn:eventstore:problem:snapshot-conflict",
        2,
    )

    status, _, invalid = put({"revision": 0, "snapshotType": "", "state": None, "extra": 1})
    assert status == 400
    named = {p["name"] for p in invalid["invalid-params"]}
    assert {"/body/revision", "/body/snapshotType"} <= named
    status, _, invalid = put({"revision": 1, "snapshotType": "x" * 257})
    assert status == 400
    assert {p["name"] for p in invalid["invalid-params"]} >= {"/body/snapshotType"}
    deep: Any = 0
    for _ in range(33):
        deep = [deep]
    status, _, invalid = put({"revision": 2, "snapshotType": "v", "state": deep})
    assert (status, [p["name"] for p in invalid["invalid-params"]]) == (400, ["/body/state"])

    unknown = {"streamType": "order", "streamId": str(uuid.uuid4())}
    status, _, problem = call("snapshots", "PUT", SNAPSHOT, unknown, body=sent)
    assert (status, problem["type"]) == (404, "urn:eventstore:problem:stream-not-found")


def test_a_snapshot_too_large_is_a_413_naming_the_limit(call: Call) -> None:
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    state = base64.b64encode(os.urandom(480_000)).decode()  # 640 KB of text, ~480 KB compressed
    status, _, problem = call(
        "snapshots", "PUT", SNAPSHOT, ids, body={"revision": 1, "snapshotType": "v", "state": state}
    )
    assert (status, problem["type"]) == (413, "urn:eventstore:problem:payload-too-large")
    assert "409600 bytes" in problem["detail"]
    assert problem["title"] == "The snapshot is too large for one item"


def test_an_erased_subjects_snapshot_reads_back_erased_and_cannot_be_written(
    call: Call, handlers: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = {"eventType": "Registered", "payload": {"name": "Ada"}, "dataSubject": "p-7"}
    stream = create(call, "person", events=[event])
    ids = {"streamType": "person", "streamId": stream["streamId"]}
    body = {"revision": 1, "snapshotType": "person-v1", "state": {"name": "Ada"}, "dataSubject": "p-7"}
    assert call("snapshots", "PUT", SNAPSHOT, ids, body=body)[0] == 201
    assert call("erase_data_subject", "DELETE", SUBJECT, {"dataSubject": "p-7"})[0] == 204
    # The snapshots container used the key: it may for up to KEY_CACHE_SECONDS after the erasure, no longer.
    keyring = handlers["snapshots"].SERVICE.store.keyring
    monkeypatch.setattr(keyring, "_clock", lambda: time.monotonic() + KEY_CACHE_SECONDS)
    status, _, got = call("snapshots", "GET", SNAPSHOT, ids)
    assert status == 200
    assert_matches_schema(got, "SnapshotResponse")
    assert got["snapshot"]["state"] is None
    assert (got["snapshot"]["stateErased"], got["snapshot"]["dataSubject"]) == (True, "p-7")
    status, _, problem = call("snapshots", "PUT", SNAPSHOT, ids, body=body)
    assert (status, problem["type"]) == (410, "urn:eventstore:problem:data-subject-erased")


def _blob(size: int) -> str:
    """A JSON string of `size` characters that zlib cannot shrink much."""
    return base64.b64encode(os.urandom(size)).decode()[:size]


def _stream_objects(stream_id: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=PAYLOAD_BUCKET, Prefix=f"{stream_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.parametrize("size", [1024 * 1024, 4_500_000], ids=["1MB", "4.5MB"])
def test_a_large_payload_round_trips_through_the_api_from_the_bucket(call: Call, size: int) -> None:
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    payload = {"scan": _blob(size)}
    event = {"eventType": "Scanned", "payload": payload}
    status, _, written = call(
        "append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body={"event": event}
    )
    assert status == 201, written
    assert len(_stream_objects(stream["streamId"])) == 1
    status, _, read = call("read_events", "GET", EVENTS, ids)
    assert status == 200
    assert read["eventPage"]["events"][1]["payload"] == payload
    assert_matches_schema(read, "EventPageResponse")


def test_a_body_beyond_the_request_limit_is_413_naming_the_limit(call: Call) -> None:
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    event = {"eventType": "Scanned", "payload": "x" * (5 * 1024 * 1024)}
    status, _, problem = call(
        "append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body={"event": event}
    )
    assert status == 413
    assert problem["type"] == "urn:eventstore:problem:payload-too-large"
    assert "5242880 bytes" in problem["detail"]
    assert _stream_objects(stream["streamId"]) == []


def test_an_event_that_could_not_be_read_back_alone_is_413(call: Call) -> None:
    """Quotes escape twice on the way out (the body's JSON text, then the proxy response's string): a
    payload of them that fits the request can pass the response limit, so it is refused."""
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    event = {"eventType": "Quoted", "payload": '"' * 2_000_000}
    status, _, problem = call(
        "append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body={"event": event}
    )
    assert status == 413, problem
    assert "in a response" in problem["detail"]


def test_s3_failing_before_the_commit_is_503_writes_nothing_and_a_retry_succeeds(
    call: Call, handlers: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    body = {"event": {"eventType": "Scanned", "eventId": str(uuid.uuid4()), "payload": _blob(500_000)}}
    s3 = handlers["append_event"].SERVICE.store.payloads._client

    def slow_down(**_kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")

    with monkeypatch.context() as patched:
        patched.setattr(s3, "put_object", slow_down)
        status, headers, problem = call("append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body=body)
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert problem["type"] == "urn:eventstore:problem:service-unavailable"
    assert call("read_events", "GET", DETAILS, ids)[2]["stream"]["revision"] == 1
    status, _, _ = call("append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body=body)
    assert status == 201
    assert (
        call("read_events", "GET", EVENTS, ids)[2]["eventPage"]["events"][1]["payload"]
        == body["event"]["payload"]
    )


def test_an_object_changed_in_the_bucket_is_a_500_never_served(call: Call) -> None:
    stream = create(call)
    ids = {"streamType": "order", "streamId": stream["streamId"]}
    event = {"eventType": "Scanned", "payload": _blob(300_000)}
    call("append_event", "PUT", EVENT_AT, {**ids, "revision": "2"}, body={"event": event})
    (key,) = _stream_objects(stream["streamId"])
    boto3.client("s3").put_object(Bucket=PAYLOAD_BUCKET, Key=key, Body=b"\x00" + b'"tampered"')
    status, _, problem = call("read_events", "GET", EVENTS, ids)
    assert status == 500
    assert problem["title"] == "A stored payload failed its integrity check"
    assert "tampered" not in json.dumps(problem)
