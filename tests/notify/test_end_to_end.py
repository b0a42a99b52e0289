"""Appends through the store → moto's DynamoDB stream → the notify_stream Lambda → SNS → SQS subscribers."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from typing import Any

import pytest

from eventstore.appends import NewEvent
from eventstore.domain import ANY_REVISION, Caller
from eventstore.dynamodb.store import DynamoEventStore
from tests.notify.conftest import TABLE
from tests.notify.harness import Bus, EventSourceMapping, Received, StreamTap, Subscriber
from tests.support import data_key_resources, load_handler, proxy_event

CALLER = Caller("arn:aws:iam::123456789012:user/tester", None)


@pytest.fixture
def lambda_mapping(
    monkeypatch: pytest.MonkeyPatch, store: DynamoEventStore, tap: StreamTap, topic_arn: str
) -> EventSourceMapping:
    """The deployed function, imported as Lambda would (configuration at module scope), on the stream."""
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENTSTORE_TOPIC_ARN", topic_arn)
    module = load_handler("notify_stream")
    return EventSourceMapping(tap, lambda event: module.handler(event, None), batch_size=25)


def append(store: DynamoEventStore, stream_type: str, stream_id: str, event_types: list[str]) -> None:
    events = [NewEvent(str(uuid.uuid4()), t, {"n": i}) for i, t in enumerate(event_types)]
    try:
        store.describe(stream_type, stream_id)
    except Exception:  # noqa: BLE001 - StreamNotFound: the first append creates the stream
        store.create(stream_type, stream_id, events, CALLER)
    else:
        store.append(stream_type, stream_id, ANY_REVISION, events, CALLER)


def commits_by_stream(received: list[Received]) -> dict[str, list[tuple[int, int]]]:
    by_stream: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for notification in received:
        by_stream[notification.body["streamId"]].append(
            (notification.body["fromRevision"], notification.body["toRevision"])
        )
    return dict(by_stream)


def test_every_revision_is_notified_in_order_to_matching_subscribers_only(
    store: DynamoEventStore, bus: Bus, lambda_mapping: EventSourceMapping
) -> None:
    orders = bus.subscribe("orders", raw=True, filter_policy={"StreamType": ["order"]})
    invoices = bus.subscribe("invoices", raw=False, filter_policy={"StreamType": ["invoice"]})
    payments = bus.subscribe("payments", raw=True, filter_policy={"EventTypes": ["Paid"]})
    rng = random.Random(3)  # noqa: S311 - reproducible test data, not secrets
    streams = {
        str(uuid.UUID(int=rng.getrandbits(128), version=4)): t for t in ["order"] * 7 + ["invoice"] * 5
    }
    appended: dict[str, list[list[str]]] = defaultdict(list)
    for _ in range(40):  # N = 40 appends of 1-3 events to M = 12 streams, interleaved
        stream_id = rng.choice(list(streams))
        types = rng.choices(["Placed", "Paid", "Shipped"], k=rng.randint(1, 3))
        append(store, streams[stream_id], stream_id, types)
        appended[stream_id].append(types)
        if rng.random() < 0.2:
            lambda_mapping.poll()  # the function also runs while appends go on
    lambda_mapping.drain()

    def expected(stream_type: str) -> dict[str, list[tuple[int, int]]]:
        commits: dict[str, list[tuple[int, int]]] = {}
        for stream_id, batches in appended.items():
            if streams[stream_id] != stream_type:
                continue
            first = 1
            for types in batches:
                commits.setdefault(stream_id, []).append((first, first + len(types) - 1))
                first += len(types)
        return commits

    assert commits_by_stream(orders.receive()) == expected("order")
    assert commits_by_stream(invoices.receive()) == expected("invoice")
    assert all(n.body["streamType"] == "order" for n in orders.received)
    # EventTypes is a String.Array: a policy on it matches any commit holding one such event.
    paid = {
        (stream_id, last)
        for stream_type in ("order", "invoice")
        for stream_id, commits in expected(stream_type).items()
        for (first, last), types in zip(commits, appended[stream_id], strict=True)
        if "Paid" in types
    }
    assert {n.stream_and_revision for n in payments.receive()} == paid
    assert len(payments.received) == len(paid)
    for subscriber in (orders, invoices):
        assert_consistent(subscriber)


def assert_consistent(subscriber: Subscriber) -> None:
    """Body and attributes agree, and the body holds what the original service's consumers parse."""
    for notification in subscriber.received:
        body = notification.body
        assert body["StreamId"] == body["streamId"]
        assert body["StreamType"] == body["streamType"]
        assert body["StreamRevision"] == str(body["toRevision"])
        assert [e["revision"] for e in body["events"]] == list(
            range(body["fromRevision"], body["toRevision"] + 1)
        )
        assert notification.attributes["StreamType"] == ("String", body["streamType"])
        data_type, types = notification.attributes["EventTypes"]
        assert data_type == "String.Array"
        assert json.loads(types) == list(dict.fromkeys(e["eventType"] for e in body["events"]))


def test_the_summary_records_each_stream_as_notified(
    store: DynamoEventStore, lambda_mapping: EventSourceMapping
) -> None:
    stream_id = str(uuid.uuid4())
    for types in (["Placed"], ["Paid", "Shipped"], ["Delivered"]):
        append(store, "order", stream_id, types)
    lambda_mapping.drain()

    assert store.describe("order", stream_id).revision == 4
    summary: Any = store.table.client.get_item(
        TableName=TABLE, Key={"streamId": {"S": stream_id}, "revision": {"N": "0"}}, ConsistentRead=True
    )["Item"]
    assert (summary["lastRevision"], summary["streamType"]) == ({"N": "4"}, {"S": "order"})


def test_each_batch_emits_metrics_and_one_log_line(
    store: DynamoEventStore,
    lambda_mapping: EventSourceMapping,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for _ in range(3):
        append(store, "order", str(uuid.uuid4()), ["Placed", "Paid"])
    capsys.readouterr()

    lambda_mapping.drain()

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line for line in lines if "_aws" in line]
    assert len(metrics) == 1
    assert metrics[0]["NotificationsPublished"] == [3.0]
    assert metrics[0]["NotificationsFailed"] == [0.0]
    lags = metrics[0]["NotificationLagMilliseconds"]
    assert len(lags) == 3
    assert all(0 <= lag < 60_000 for lag in lags)
    logs: list[Any] = [record for record in caplog.records if record.getMessage() == "notified"]
    assert len(logs) == 1
    assert (logs[0].published, logs[0].failed, logs[0].commits, logs[0].publishCalls) == (3, 0, 3, 1)


def test_appends_through_the_api_are_each_notified_in_order(
    monkeypatch: pytest.MonkeyPatch, bus: Bus, lambda_mapping: EventSourceMapping
) -> None:
    """The issue's acceptance test: N events appended to M streams through the API Lambdas."""
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", TABLE)
    for name, value in data_key_resources().items():
        monkeypatch.setenv(name, value)
    create_stream, append_event = load_handler("create_stream"), load_handler("append_event")
    queue = bus.subscribe("orders", raw=False, filter_policy={"StreamType": ["order"]})

    def call(module: Any, method: str, resource: str, params: dict[str, str], body: Any) -> Any:
        response = module.handler(proxy_event(method, resource, params, body=body), None)
        assert response["statusCode"] == 201, response["body"]
        return json.loads(response["body"])["stream"]

    revisions: dict[str, int] = {}
    for _ in range(4):  # M = 4 streams
        created = call(
            create_stream,
            "POST",
            "/streams/{streamType}",
            {"streamType": "order"},
            {"initialEvent": {"eventType": "Placed", "payload": "{}"}},
        )
        revisions[created["streamId"]] = 1
    for round_ in range(3):  # then per stream: PUT one, POST two, PUT one (N = 20 events in all)
        for stream_id, revision in revisions.items():
            ids = {"streamType": "order", "streamId": stream_id}
            if round_ % 2:
                events = [{"eventType": "Paid", "payload": {"n": 1}}, {"eventType": "Shipped", "payload": 2}]
                stream = call(
                    append_event,
                    "POST",
                    "/streams/{streamType}/{streamId}/events",
                    ids,
                    {"expectedRevision": revision, "events": events},
                )
            else:
                stream = call(
                    append_event,
                    "PUT",
                    "/streams/{streamType}/{streamId}/events/{revision}",
                    {**ids, "revision": str(revision + 1)},
                    {"event": {"eventType": "Paid", "payload": "x"}},
                )
            revisions[stream_id] = stream["revision"]

    lambda_mapping.drain()

    received = commits_by_stream(queue.receive())
    assert received == {stream_id: [(1, 1), (2, 2), (3, 4), (5, 5)] for stream_id in revisions}
    assert all(revision == 5 for revision in revisions.values())
    assert_consistent(queue)
