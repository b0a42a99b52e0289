"""--data-dir: a stopped and restarted local store still has its streams, and re-notifies nothing."""

import base64
import json
import os
import re
import time
from pathlib import Path

import boto3
import pytest

from local_runtime.testing import SignedHttp, launch


@pytest.mark.slow
def test_streams_survive_a_restart_with_a_data_dir(tmp_path: Path) -> None:
    with launch(data_dir=tmp_path) as store:
        api = store.client()
        created = api.request(
            "POST", "/streams/order", {"initialEvent": {"eventType": "placed", "payload": "1"}}
        )
        assert created.status == 201, created.body
        base = f"/streams/order/{created.json()['stream']['streamId']}"
        assert (
            api.request("PUT", f"{base}/events/2", {"event": {"eventType": "paid", "payload": "2"}}).status
            == 201
        )

    with launch(data_dir=tmp_path) as store:
        api = store.client()
        events = api.request("GET", f"{base}/events").json()["eventPage"]["events"]
        assert [(e["revision"], e["eventType"], e["payload"]) for e in events] == [
            (1, "placed", "1"),
            (2, "paid", "2"),
        ]
        # Only revision 3 is notified after the restart: the restored commits were notified before it.
        sqs = boto3.client("sqs", **store.boto3_kwargs())
        sns = boto3.client("sns", **store.boto3_kwargs())
        queue_url = sqs.create_queue(QueueName="restart-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(
            TopicArn=store.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        assert api.request("PUT", f"{base}/events/3", {"event": {"eventType": "shipped"}}).status == 201
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)[
            "Messages"
        ]
        time.sleep(1)
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        assert [json.loads(m["Body"])["StreamRevision"] for m in messages] == ["3"]
        # The pump logs each batch it hands to notify_stream: only the one new commit since the restart.
        batches = re.findall(r"notify_stream: (\d+) records", store.log_file.read_text())
        assert batches == ["1"]


@pytest.mark.slow
def test_feeds_and_checkpoints_survive_a_restart_with_a_data_dir(tmp_path: Path) -> None:
    with launch(data_dir=tmp_path) as store:
        api = store.client()
        created = api.request(
            "POST", "/streams/ledger", {"events": [{"eventType": "opened"}, {"eventType": "credited"}]}
        )
        assert created.status == 201, created.body
        stream_id = created.json()["stream"]["streamId"]
        before = _feed_when(api, "/streams/ledger/feed", 2)
        position = before[-1]["position"]
        put = api.request("PUT", "/checkpoints/ledger-view", {"position": position, "expectedPosition": None})
        assert put.status == 200, put.body

    with launch(data_dir=tmp_path) as store:
        api = store.client()
        assert api.request("GET", "/checkpoints/ledger-view").json()["checkpoint"]["position"] == position
        assert _feed_when(api, "/streams/ledger/feed", 2) == before
        appended = api.request(
            "POST",
            f"/streams/ledger/{stream_id}/events",
            {"expectedRevision": 2, "events": [{"eventType": "debited"}]},
        )
        assert appended.status == 201, appended.body
        # The feed goes on after the restored prefix: the new event after the checkpoint, nothing twice.
        after = _feed_when(api, f"/streams/ledger/feed?after-position={position}", 1)
        assert [(e["revision"], e["eventType"]) for e in after] == [(3, "debited")]
        assert [e["revision"] for e in _feed_when(api, "/feed", 3)] == [1, 2, 3]


def _feed_when(api: SignedHttp, path: str, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
    """The feed's events once it holds `count` (the feed is written from the table's stream)."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.request("GET", path)
        assert response.status == 200, response.body
        events: list[dict[str, object]] = response.json()["feedPage"]["events"]
        if len(events) >= count or time.monotonic() > deadline:
            assert len(events) == count, events
            return events
        time.sleep(0.05)


def test_a_large_payload_survives_a_restart_with_a_data_dir(tmp_path: Path) -> None:
    """Its object is kept in the data dir before the commit that points to it is written."""
    payload = {"scan": base64.b64encode(os.urandom(600_000)).decode()}
    with launch(data_dir=tmp_path) as store:
        api = store.client()
        body = {"initialEvent": {"eventType": "scanned", "payload": payload}}
        created = api.request("POST", "/streams/scan", body)
        assert created.status == 201, created.body
        path = f"/streams/scan/{created.json()['stream']['streamId']}/events"

    with launch(data_dir=tmp_path) as store:
        read = store.client().request("GET", path)
        assert read.status == 200, read.body
        assert read.json()["eventPage"]["events"][0]["payload"] == payload
