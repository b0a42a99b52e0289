"""Erasure on the local runtime (moto's KMS): no plaintext in the table or notifications, and keys and
erasures survive a restart with --data-dir (the CMK's material and the keys table are kept)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local_runtime.testing import LocalStore, launch

if TYPE_CHECKING:
    from pathlib import Path

MARKER = "MARKER-9d2e41-plaintext"


def _subscribe(store: LocalStore) -> tuple[Any, str]:
    sqs = boto3.client("sqs", **store.boto3_kwargs())
    sns = boto3.client("sns", **store.boto3_kwargs())
    queue_url = sqs.create_queue(QueueName="erasure-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(
        TopicArn=store.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return sqs, queue_url


def _payloads(store: LocalStore, base: str) -> list[tuple[Any, bool]]:
    events = store.client().request("GET", f"{base}/events").json()["eventPage"]["events"]
    return [(e["payload"], e.get("payloadErased", False)) for e in events]


@pytest.mark.slow
def test_subjects_payloads_are_sealed_and_erasures_survive_a_restart(tmp_path: Path) -> None:
    with launch(data_dir=tmp_path) as store:
        api = store.client()
        sqs, queue_url = _subscribe(store)
        events = [
            {"eventType": "Registered", "dataSubject": "ada", "payload": {"name": MARKER}},
            {"eventType": "Registered", "dataSubject": "bob", "payload": {"name": "Bob"}},
        ]
        created = api.request("POST", "/streams/person", {"events": events})
        assert created.status == 201, created.body
        base = f"/streams/person/{created.json()['stream']['streamId']}"

        dynamodb = boto3.client("dynamodb", **store.boto3_kwargs())
        for table in dynamodb.list_tables()["TableNames"]:
            scanned = json.dumps(dynamodb.scan(TableName=table)["Items"], default=repr)
            assert MARKER not in scanned, table
        deadline, bodies = time.monotonic() + 10, list[str]()
        while not bodies and time.monotonic() < deadline:
            bodies = [
                m["Body"]
                for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
            ]
        assert bodies
        assert all(MARKER not in body for body in bodies)

        assert api.request("DELETE", "/data-subjects/ada").status == 204
        assert _payloads(store, base) == [(None, True), ({"name": "Bob"}, False)]

    with launch(data_dir=tmp_path) as store:
        api = store.client()
        # bob's key is unwrapped by the restored CMK; ada's erasure is still on record.
        assert _payloads(store, base) == [(None, True), ({"name": "Bob"}, False)]
        assert api.request("GET", "/data-subjects/ada").json()["state"] == "erased"
        refused = api.request(
            "POST",
            f"{base}/events",
            {"expectedRevision": 2, "events": [{"eventType": "X", "dataSubject": "ada"}]},
        )
        assert refused.status == 410
        appended = api.request(
            "POST",
            f"{base}/events",
            {"expectedRevision": 2, "events": [{"eventType": "Y", "dataSubject": "bob", "payload": 3}]},
        )
        assert appended.status == 201, appended.body
        assert _payloads(store, base)[2] == (3, False)
