"""The lifecycle routes through their Lambdas (API Gateway REST proxy events): DELETE a stream, GET/PUT its
metadata, and what reads, details, appends and the listing answer afterwards; bodies checked against
openapi.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eventstore.table import create_table
from tests.support import assert_matches_schema, data_key_resources, load_handler, proxy_event

STREAMS = "/streams/{streamType}"
STREAM = "/streams/{streamType}/{streamId}"
EVENTS = "/streams/{streamType}/{streamId}/events"
EVENT_AT = "/streams/{streamType}/{streamId}/events/{revision}"
DETAILS = "/streams/{streamType}/{streamId}/details"
METADATA = "/streams/{streamType}/{streamId}/metadata"
FUNCTIONS = (
    "create_stream",
    "append_event",
    "read_events",
    "list_streams",
    "delete_stream",
    "stream_metadata",
)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", "events")
    monkeypatch.setenv("EVENTSTORE_PAGE_KEY_SECRET", "handler-tests-page-key-secret")
    monkeypatch.setenv("EVENTSTORE_LISTING_SETTLE_SECONDS", "0")
    monkeypatch.setenv("EVENTSTORE_RETENTION_DEFAULTS", json.dumps({"audit": {"maxCount": 2}}))
    with mock_aws():
        create_table(boto3.client("dynamodb"), "events")
        for name, value in data_key_resources().items():
            monkeypatch.setenv(name, value)
        yield {name: load_handler(name) for name in FUNCTIONS}


class Api:
    def __init__(self, handlers: dict[str, ModuleType]) -> None:
        self.handlers = handlers

    def __call__(self, function: str, method: str, resource: str, params: dict[str, str], **kw: Any) -> Any:
        response = self.handlers[function].handler(proxy_event(method, resource, params, **kw), None)
        body = json.loads(response["body"]) if response["body"] else None
        if response["statusCode"] >= 400:
            assert response["headers"]["Content-Type"] == "application/problem+json"
            assert_matches_schema(body, "Problem")
        return response["statusCode"], body

    def create(self, stream_type: str = "order", events: int = 3) -> str:
        status, body = self(
            "create_stream",
            "POST",
            STREAMS,
            {"streamType": stream_type},
            body={"events": [{"eventType": f"E{n}"} for n in range(events)]},
        )
        assert status == 201, body
        stream_id: str = body["stream"]["streamId"]
        return stream_id

    def delete(self, stream_id: str, query: dict[str, str] | None = None, stream_type: str = "order") -> Any:
        return self(
            "delete_stream", "DELETE", STREAM, {"streamType": stream_type, "streamId": stream_id}, query=query
        )


@pytest.fixture
def api(handlers: dict[str, ModuleType]) -> Api:
    return Api(handlers)


def test_soft_delete_then_restart_through_the_api(api: Api) -> None:
    stream_id = api.create()
    params = {"streamType": "order", "streamId": stream_id}
    assert api.delete(stream_id, {"expected-revision": "2"})[0] == 409
    assert api.delete(stream_id, {"expected-revision": "3"}) == (204, None)
    assert api.delete(stream_id) == (204, None)
    for function, resource in (
        ("read_events", EVENTS),
        ("read_events", DETAILS),
        ("stream_metadata", METADATA),
    ):
        status, problem = api(function, "GET", resource, params)
        assert (status, problem["type"]) == (404, "urn:eventstore:problem:stream-not-found")
    status, listing = api("list_streams", "GET", STREAMS, {"streamType": "order"})
    assert (status, listing["streamPage"]["streams"]) == (200, [])
    status, written = api(
        "append_event", "PUT", EVENT_AT, {**params, "revision": "4"}, body={"event": {"eventType": "Again"}}
    )
    assert (status, written["stream"]["revision"]) == (201, 4)
    status, page = api("read_events", "GET", EVENTS, params)
    assert status == 200
    assert_matches_schema(page, "EventPageResponse")
    assert [e["revision"] for e in page["eventPage"]["events"]] == [4]
    assert page["eventPage"]["firstRevision"] == 4


def test_a_tombstone_answers_410_stream_deleted_on_every_route(api: Api) -> None:
    stream_id = api.create()
    params = {"streamType": "order", "streamId": stream_id}
    assert api.delete(stream_id, {"mode": "tombstone"}) == (204, None)
    assert api.delete(stream_id, {"mode": "tombstone"}) == (204, None)
    calls: list[tuple[str, str, str, dict[str, str], dict[str, Any]]] = [
        ("read_events", "GET", EVENTS, params, {}),
        ("read_events", "GET", EVENTS, params, {"query": {"after-revision": "2"}}),
        ("read_events", "GET", DETAILS, params, {}),
        (
            "append_event",
            "POST",
            EVENTS,
            params,
            {"body": {"expectedRevision": 3, "events": [{"eventType": "X"}]}},
        ),
        (
            "append_event",
            "POST",
            EVENTS,
            params,
            {"body": {"expectedRevision": "any", "events": [{"eventType": "X"}]}},
        ),
        (
            "append_event",
            "PUT",
            EVENT_AT,
            {**params, "revision": "4"},
            {"body": {"event": {"eventType": "X"}}},
        ),
        (
            "create_stream",
            "POST",
            STREAMS,
            {"streamType": "order"},
            {"body": {"streamId": stream_id, "initialEvent": {"eventType": "X"}}},
        ),
        ("stream_metadata", "GET", METADATA, params, {}),
        ("stream_metadata", "PUT", METADATA, params, {"body": {"maxCount": 1}}),
        ("delete_stream", "DELETE", STREAM, params, {}),
    ]
    for function, method, resource, path, kw in calls:
        status, problem = api(function, method, resource, path, **kw)
        assert (status, problem["type"]) == (410, "urn:eventstore:problem:stream-deleted"), (method, resource)


def test_metadata_round_trip_compare_and_set_and_reads_starting_at_the_first_visible_revision(
    api: Api,
) -> None:
    stream_id = api.create(events=5)
    params = {"streamType": "order", "streamId": stream_id}
    status, got = api("stream_metadata", "GET", METADATA, params)
    assert (status, got) == (
        200,
        {
            "metadata": {
                "maxCount": None,
                "maxAgeSeconds": None,
                "truncateBefore": None,
                "metadataRevision": 0,
            }
        },
    )
    status, put = api(
        "stream_metadata", "PUT", METADATA, params, body={"truncateBefore": 3, "expectedMetadataRevision": 0}
    )
    assert status == 200
    assert_matches_schema(put, "StreamMetadataResponse")
    assert put["metadata"] == {
        "maxCount": None,
        "maxAgeSeconds": None,
        "truncateBefore": 3,
        "metadataRevision": 1,
    }
    status, problem = api(
        "stream_metadata", "PUT", METADATA, params, body={"maxCount": 1, "expectedMetadataRevision": 0}
    )
    assert (status, problem["type"], problem["currentMetadataRevision"]) == (
        409,
        "urn:eventstore:problem:metadata-conflict",
        1,
    )
    status, page = api("read_events", "GET", EVENTS, params, query={"after-revision": "1", "limit": "2"})
    assert status == 200
    assert [e["revision"] for e in page["eventPage"]["events"]] == [3, 4]
    assert (page["eventPage"]["firstRevision"], page["eventPage"]["lastEvaluatedRevision"]) == (3, 4)


def test_type_defaults_from_the_environment_apply_to_reads(api: Api) -> None:
    stream_id = api.create(stream_type="audit", events=5)
    status, page = api("read_events", "GET", EVENTS, {"streamType": "audit", "streamId": stream_id})
    assert status == 200
    assert [e["revision"] for e in page["eventPage"]["events"]] == [4, 5]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"maxCount": 0}, "/body/maxCount"),
        ({"maxAgeSeconds": -5}, "/body/maxAgeSeconds"),
        ({"truncateBefore": "7"}, "/body/truncateBefore"),
        ({"maxCount": 1.5}, "/body/maxCount"),
        ({"expectedMetadataRevision": -1}, "/body/expectedMetadataRevision"),
        ({"maxcount": 3}, "/body/maxcount"),
    ],
)
def test_invalid_metadata_is_a_problem_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    stream_id = api.create()
    status, problem = api(
        "stream_metadata", "PUT", METADATA, {"streamType": "order", "streamId": stream_id}, body=body
    )
    assert (status, problem["type"]) == (400, "urn:eventstore:problem:invalid-request")
    assert field in [p["name"] for p in problem["invalid-params"]], problem


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"mode": "hard"}, "/query/mode"),
        ({"expected-revision": "0"}, "/query/expected-revision"),
        ({"expected-revision": "x"}, "/query/expected-revision"),
        ({"expectedRevision": "3"}, "/query/expectedRevision"),
    ],
)
def test_invalid_delete_parameters_are_problems_naming_them(
    api: Api, query: dict[str, str], field: str
) -> None:
    stream_id = api.create()
    status, problem = api.delete(stream_id, query)
    assert (status, [p["name"] for p in problem["invalid-params"]]) == (400, [field])
    status, details = api("read_events", "GET", DETAILS, {"streamType": "order", "streamId": stream_id})
    assert (status, details["stream"]["revision"]) == (200, 3)
