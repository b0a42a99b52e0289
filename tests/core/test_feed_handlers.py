"""read_feed and checkpoints, driven by API Gateway REST proxy events over moto, with the feed written by
notify_stream from the table's records as on AWS; responses checked against openapi.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.harness import stream_event
from eventstore.table import create_table
from tests.support import assert_matches_schema, data_key_resources, load_handler, proxy_event

FEED = "/feed"
TYPE_FEED = "/streams/{streamType}/feed"
CHECKPOINT = "/checkpoints/{name}"


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", "events")
    monkeypatch.setenv("EVENTSTORE_LISTING_SETTLE_SECONDS", "0")
    monkeypatch.setenv("EVENTSTORE_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:feed-tests")
    with mock_aws():
        create_table(boto3.client("dynamodb"), "events")
        boto3.client("sns").create_topic(Name="feed-tests")
        for name, value in data_key_resources().items():
            monkeypatch.setenv(name, value)
        yield {
            name: load_handler(name)
            for name in ("create_stream", "read_feed", "checkpoints", "notify_stream")
        }


def _call(
    handlers: dict[str, ModuleType],
    function: str,
    method: str,
    resource: str,
    params: dict[str, str] | None = None,
    *,
    multi: dict[str, list[str]] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    event = proxy_event(method, resource, params, body=body)
    if multi:
        event["queryStringParameters"] = {name: values[-1] for name, values in multi.items()}
        event["multiValueQueryStringParameters"] = multi
    response = handlers[function].handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def _commits(stream_id: str) -> list[dict[str, Any]]:
    found = boto3.client("dynamodb").query(
        TableName="events",
        KeyConditionExpression="streamId = :id AND revision >= :one",
        ExpressionAttributeValues={":id": {"S": stream_id}, ":one": {"N": "1"}},
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = found["Items"]
    return items


def _append_and_feed(handlers: dict[str, ModuleType], stream_type: str, event_types: list[str]) -> str:
    status, created = _call(
        handlers,
        "create_stream",
        "POST",
        "/streams/{streamType}",
        {"streamType": stream_type},
        body={"events": [{"eventType": t, "payload": {"n": i}} for i, t in enumerate(event_types)]},
    )
    assert status == 201, created
    stream_id: str = created["stream"]["streamId"]
    result = handlers["notify_stream"].handler(stream_event(_commits(stream_id)), None)
    assert result["batchItemFailures"] == []
    return stream_id


def test_feeds_page_in_order_with_filters(handlers: dict[str, ModuleType]) -> None:
    first = _append_and_feed(handlers, "order", ["Placed", "Paid"])
    _append_and_feed(handlers, "invoice", ["Issued"])
    second = _append_and_feed(handlers, "order", ["Placed"])
    status, page = _call(
        handlers, "read_feed", "GET", TYPE_FEED, {"streamType": "order"}, multi={"limit": ["2"]}
    )
    assert status == 200, page
    assert_matches_schema(page, "FeedPageResponse")
    assert [(e["streamId"], e["revision"]) for e in page["feedPage"]["events"]] == [(first, 1), (first, 2)]
    assert page["feedPage"]["hasMore"] is True
    after = page["feedPage"]["lastPosition"]
    status, rest = _call(
        handlers, "read_feed", "GET", TYPE_FEED, {"streamType": "order"}, multi={"after-position": [after]}
    )
    assert [(e["streamId"], e["eventType"]) for e in rest["feedPage"]["events"]] == [(second, "Placed")]
    assert rest["feedPage"]["hasMore"] is False
    status, everything = _call(handlers, "read_feed", "GET", FEED, multi={"event-type": ["Issued", "Paid"]})
    assert status == 200, everything
    assert [e["eventType"] for e in everything["feedPage"]["events"]] == ["Paid", "Issued"]
    # A position of the order feed is not one of the all-types feed.
    status, problem = _call(handlers, "read_feed", "GET", FEED, multi={"after-position": [after]})
    assert status == 400
    assert [p["name"] for p in problem["invalid-params"]] == ["/query/after-position"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"consumer-group-member": ["0"]}, "/query/consumer-group-size"),
        ({"consumer-group-size": ["2"]}, "/query/consumer-group-member"),
        ({"consumer-group-member": ["2"], "consumer-group-size": ["2"]}, "/query/consumer-group-member"),
        ({"consumer-group-member": ["0"], "consumer-group-size": ["65"]}, "/query/consumer-group-size"),
        ({"limit": ["0"]}, "/query/limit"),
        ({"limit": ["1001"]}, "/query/limit"),
        ({"event-type": ["ok", "not ok"]}, "/query/event-type/1"),
        ({"after_position": ["x"]}, "/query/after_position"),
        ({"after-position": ["garbage"]}, "/query/after-position"),
    ],
)
def test_bad_feed_parameters_are_400_naming_the_parameter(
    handlers: dict[str, ModuleType], query: dict[str, list[str]], named: str
) -> None:
    status, problem = _call(handlers, "read_feed", "GET", FEED, multi=query)
    assert status == 400, problem
    assert_matches_schema(problem, "Problem")
    assert named in [p["name"] for p in problem["invalid-params"]]


def test_consumer_group_members_split_the_streams(handlers: dict[str, ModuleType]) -> None:
    streams = {_append_and_feed(handlers, "order", ["Placed"]) for _ in range(6)}
    seen: list[set[str]] = []
    for member in range(3):
        query = {"consumer-group-member": [str(member)], "consumer-group-size": ["3"]}
        status, page = _call(handlers, "read_feed", "GET", FEED, multi=query)
        assert status == 200, page
        seen.append({e["streamId"] for e in page["feedPage"]["events"]})
    assert set().union(*seen) == streams
    assert sum(len(s) for s in seen) == len(streams)


def test_checkpoints_round_trip_and_compare_and_set(handlers: dict[str, ModuleType]) -> None:
    _append_and_feed(handlers, "order", ["Placed", "Paid"])
    _, page = _call(handlers, "read_feed", "GET", FEED)
    first, second = (e["position"] for e in page["feedPage"]["events"])
    name = {"name": "orders.view:v2"}
    status, problem = _call(handlers, "checkpoints", "GET", CHECKPOINT, name)
    assert (status, problem["type"]) == (404, "urn:eventstore:problem:checkpoint-not-found")
    status, stored = _call(
        handlers, "checkpoints", "PUT", CHECKPOINT, name, body={"position": first, "expectedPosition": None}
    )
    assert status == 200, stored
    assert_matches_schema(stored, "CheckpointResponse")
    status, problem = _call(
        handlers, "checkpoints", "PUT", CHECKPOINT, name, body={"position": second, "expectedPosition": None}
    )
    assert status == 409
    assert_matches_schema(problem, "Problem")
    assert (problem["type"], problem["storedPosition"]) == (
        "urn:eventstore:problem:checkpoint-conflict",
        first,
    )
    status, moved = _call(
        handlers, "checkpoints", "PUT", CHECKPOINT, name, body={"position": second, "expectedPosition": first}
    )
    assert (status, moved["checkpoint"]["position"]) == (200, second)
    status, read = _call(handlers, "checkpoints", "GET", CHECKPOINT, name)
    assert (status, read["checkpoint"]["name"], read["checkpoint"]["position"]) == (
        200,
        "orders.view:v2",
        second,
    )
    status, problem = _call(handlers, "checkpoints", "PUT", CHECKPOINT, name, body={"position": "nope"})
    assert status == 400
    assert [p["name"] for p in problem["invalid-params"]] == ["/body/position"]
    status, problem = _call(handlers, "checkpoints", "GET", CHECKPOINT, {"name": "a/b"})
    assert status == 400
    assert [p["name"] for p in problem["invalid-params"]] == ["/path/name"]


STREAM_TYPES = "/stream-types"


def _registry_puts(calls: list[dict[str, Any]]) -> int:
    return sum(1 for params in calls if params["Item"]["streamId"]["S"] == "$stream-types")


def test_stream_types_are_registered_once_per_new_type_and_listed(handlers: dict[str, ModuleType]) -> None:
    puts: list[dict[str, Any]] = []
    # The client notify_stream (the feed writer) writes with.
    client = handlers["notify_stream"].NOTIFIER._cursor.table.client
    client.meta.events.register(
        "provide-client-params.dynamodb.PutItem", lambda params, **_: puts.append(params)
    )
    status, empty = _call(handlers, "read_feed", "GET", STREAM_TYPES)
    assert (status, empty) == (200, {"streamTypePage": {"streamTypes": [], "hasMore": False}})
    for stream_type in ("order", "invoice", "order", "order", "invoice", "crate"):
        _append_and_feed(handlers, stream_type, ["Happened"])
    # One registry write per new type; later appends of a known type add none.
    assert _registry_puts(puts) == 3
    status, page = _call(handlers, "read_feed", "GET", STREAM_TYPES)
    assert status == 200, page
    assert_matches_schema(page, "StreamTypePageResponse")
    assert sorted(t["streamType"] for t in page["streamTypePage"]["streamTypes"]) == [
        "crate",
        "invoice",
        "order",
    ]
    seen: list[str] = []
    after: dict[str, list[str]] = {}
    while True:
        status, part = _call(handlers, "read_feed", "GET", STREAM_TYPES, multi={"limit": ["1"], **after})
        assert status == 200, part
        seen += [t["streamType"] for t in part["streamTypePage"]["streamTypes"]]
        if not part["streamTypePage"]["hasMore"]:
            break
        after = {"after-stream-type": [part["streamTypePage"]["lastStreamType"]]}
    assert sorted(seen) == ["crate", "invoice", "order"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"limit": ["0"]}, "/query/limit"),
        ({"limit": ["1001"]}, "/query/limit"),
        ({"after-stream-type": ["not a type"]}, "/query/after-stream-type"),
        ({"after_stream_type": ["order"]}, "/query/after_stream_type"),
    ],
)
def test_bad_stream_type_parameters_are_400_naming_the_parameter(
    handlers: dict[str, ModuleType], query: dict[str, list[str]], named: str
) -> None:
    status, problem = _call(handlers, "read_feed", "GET", STREAM_TYPES, multi=query)
    assert status == 400, problem
    assert named in [p["name"] for p in problem["invalid-params"]]
