"""Stream lifecycle end to end through the local runtime (subprocess, --require-iam, signed requests):
delete, restart and tombstone through the API, StreamDeleted notifications through the pump, notify_stream
and SNS, and a type's retention defaults from --retention-defaults."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local_runtime.testing import LocalStore, SignedHttp, launch


@pytest.fixture(scope="module")
def store() -> Iterator[LocalStore]:
    with launch(extra_args=["--retention-defaults", json.dumps({"audit": {"maxCount": 2}})]) as running:
        yield running


def _subscribe(store: LocalStore, stream_type: str) -> tuple[Any, str]:
    sns = boto3.client("sns", **store.boto3_kwargs())
    sqs = boto3.client("sqs", **store.boto3_kwargs())
    queue_url = sqs.create_queue(QueueName=f"lifecycle-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=store.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"StreamType": [stream_type]}), "RawMessageDelivery": "true"},
    )
    return sqs, queue_url


def _messages(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_delete_restart_and_tombstone_through_the_local_runtime(store: LocalStore) -> None:
    api: SignedHttp = store.client()
    stream_type = f"t{uuid.uuid4().hex[:12]}"
    sqs, queue_url = _subscribe(store, stream_type)
    created = api.request(
        "POST", f"/streams/{stream_type}", {"events": [{"eventType": "A"}, {"eventType": "B"}]}
    )
    assert created.status == 201, created.body
    stream_id = created.json()["stream"]["streamId"]
    path = f"/streams/{stream_type}/{stream_id}"

    assert api.request("DELETE", f"{path}?expected-revision=2").status == 204
    assert api.request("GET", f"{path}/events").status == 404
    assert api.request("GET", f"{path}/details").status == 404
    listed = api.request("GET", f"/streams/{stream_type}").json()["streamPage"]["streams"]
    assert listed == []

    restarted = api.request("PUT", f"{path}/events/3", {"event": {"eventType": "C"}})
    assert restarted.status == 201, restarted.body
    page = api.request("GET", f"{path}/events").json()["eventPage"]
    assert ([e["revision"] for e in page["events"]], page["firstRevision"]) == ([3], 3)

    assert api.request("DELETE", f"{path}?mode=tombstone").status == 204
    for method, suffix, body in (
        ("GET", "/events", None),
        ("GET", "/details", None),
        ("PUT", "/events/4", {"event": {"eventType": "D"}}),
    ):
        response = api.request(method, path + suffix, body)
        assert response.status == 410, (method, suffix, response.body)
        assert response.json()["type"] == "urn:eventstore:problem:stream-deleted"

    bodies = _messages(sqs, queue_url, 4)
    kinds = [(b.get("type", "Events"), b.get("mode"), b.get("toRevision")) for b in bodies]
    assert kinds == [
        ("Events", None, 2),
        ("StreamDeleted", "soft", None),
        ("Events", None, 3),
        ("StreamDeleted", "tombstone", None),
    ]
    feed = api.request("GET", f"/streams/{stream_type}/feed").json()["feedPage"]["events"]
    assert feed == []


def test_retention_defaults_of_the_runtime_apply_to_reads(store: LocalStore) -> None:
    api: SignedHttp = store.client()
    created = api.request("POST", "/streams/audit", {"events": [{"eventType": f"E{n}"} for n in range(4)]})
    assert created.status == 201, created.body
    stream_id = created.json()["stream"]["streamId"]
    page = api.request("GET", f"/streams/audit/{stream_id}/events").json()["eventPage"]
    assert ([e["revision"] for e in page["events"]], page["firstRevision"]) == ([3, 4], 3)
    put = api.request("PUT", f"/streams/audit/{stream_id}/metadata", {"maxCount": 3})
    assert (put.status, put.json()["metadata"]["metadataRevision"]) == (200, 1)
    page = api.request("GET", f"/streams/audit/{stream_id}/events").json()["eventPage"]
    assert [e["revision"] for e in page["events"]] == [2, 3, 4]
