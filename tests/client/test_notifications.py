import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eventstore_client import (
    InvalidNotification,
    Notification,
    NotificationConsumer,
    NotificationEvent,
    make_sqs_client,
    parse_body,
    parse_lambda_event,
)

EVENTS = Path(__file__).parent / "events"
STREAM_ID = "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"


def message(
    stream_type: str = "Order", first: int = 2, types: tuple[str, ...] = ("Paid", "Packed")
) -> dict[str, Any]:
    """The notification body notify_stream publishes (issue 3)."""
    last = first + len(types) - 1
    return {
        "StreamId": STREAM_ID,
        "StreamType": stream_type,
        "StreamRevision": str(last),
        "streamId": STREAM_ID,
        "streamType": stream_type,
        "fromRevision": first,
        "toRevision": last,
        "events": [
            {"revision": first + i, "eventId": f"9b2f1d7e-2c55-4c1e-8f57-0a4f1f4f5a{i:02d}", "eventType": t}
            for i, t in enumerate(types)
        ],
        "updatedAt": "2026-11-27T13:45:01.123Z",
    }


def attributes(stream_type: str, types: tuple[str, ...]) -> dict[str, Any]:
    return {
        "StreamType": {"DataType": "String", "StringValue": stream_type},
        "EventTypes": {"DataType": "String.Array", "StringValue": json.dumps(list(types))},
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield


def subscribed_queue(sns: Any, sqs: Any, topic_arn: str, name: str, *, raw: bool) -> str:
    queue_url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "true" if raw else "false",
            "FilterPolicy": json.dumps({"StreamType": ["Order"]}),
        },
    )
    return queue_url


def test_envelope_and_raw_delivery_from_sns_parse_to_the_same_notification(aws: None) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="eventstore-notifications")["TopicArn"]
    envelope_queue = subscribed_queue(sns, sqs, topic_arn, "envelope", raw=False)
    raw_queue = subscribed_queue(sns, sqs, topic_arn, "raw", raw=True)
    for stream_type in ("Invoice", "Order"):  # the filter policy drops the Invoice one
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps(message(stream_type)),
            MessageAttributes={
                "StreamType": {"DataType": "String", "StringValue": stream_type},
                "EventTypes": {"DataType": "String.Array", "StringValue": '["Paid","Packed"]'},
            },
        )

    parsed = []
    for queue_url in (envelope_queue, raw_queue):
        consumer = NotificationConsumer(queue_url, sqs, wait_time_seconds=0)
        deliveries = consumer.receive()
        assert len(deliveries) == 1
        parsed.append(deliveries[0].notification)

    envelope, raw = parsed
    assert envelope.message_id is not None
    assert envelope == Notification(
        stream_id=STREAM_ID,
        stream_type="Order",
        from_revision=2,
        to_revision=3,
        events=(
            NotificationEvent(2, "9b2f1d7e-2c55-4c1e-8f57-0a4f1f4f5a00", "Paid"),
            NotificationEvent(3, "9b2f1d7e-2c55-4c1e-8f57-0a4f1f4f5a01", "Packed"),
        ),
        event_types=("Paid", "Packed"),
        updated_at=datetime(2026, 11, 27, 13, 45, 1, 123000, tzinfo=UTC),
        message_id=envelope.message_id,
    )
    assert (raw.stream_id, raw.events, raw.event_types, raw.message_id) == (
        envelope.stream_id,
        envelope.events,
        envelope.event_types,
        None,
    )


def test_a_lambda_sqs_event_parses_raw_and_enveloped_records() -> None:
    event = json.loads((EVENTS / "sqs_lambda_event.json").read_text())

    raw, enveloped = parse_lambda_event(event)

    assert (raw.from_revision, raw.to_revision, raw.event_types) == (2, 3, ("Paid", "Packed"))
    assert (enveloped.revision, enveloped.event_types) == (4, ("Shipped",))
    assert enveloped.message_id == "da41e39f-ea4d-435a-b922-c6aae3915ebe"


def test_the_original_services_message_parses() -> None:
    old = parse_body(json.dumps({"StreamId": STREAM_ID, "StreamType": "Order", "StreamRevision": "18"}))

    assert (old.stream_type, old.from_revision, old.to_revision, old.events) == ("Order", 18, 18, ())


def test_event_types_fall_back_to_the_message_when_attributes_are_missing() -> None:
    parsed = parse_body(json.dumps(message(types=("Paid", "Paid", "Packed"))))

    assert parsed.event_types == ("Paid", "Packed")


@pytest.mark.parametrize(
    "body", ["not json", "[]", json.dumps({"StreamId": STREAM_ID}), '{"Type":"Notification"}']
)
def test_anything_else_is_an_invalid_notification(body: str) -> None:
    with pytest.raises(InvalidNotification):
        parse_body(body)


def test_the_consumer_deletes_only_what_the_block_processed(aws: None) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="projection")["QueueUrl"]
    for first in (1, 2):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(message(first=first, types=("Placed",))),
            MessageAttributes=attributes("Order", ("Placed",)),
        )
    sqs.send_message(QueueUrl=queue_url, MessageBody="not a notification")
    # A zero visibility timeout makes an undeleted message receivable again at once.
    consumer = NotificationConsumer(queue_url, sqs, wait_time_seconds=0, visibility_timeout=0)

    handled = []

    def handle(notification: Notification) -> None:
        if notification.revision == 1:
            raise RuntimeError("handler failed")
        handled.append(notification.revision)

    for delivery in consumer.receive():
        with contextlib.suppress(RuntimeError), delivery as notification:
            handle(notification)

    assert handled == [2]
    left = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"][:30] for m in left) == sorted(
        ["not a notification", json.dumps(message(first=1, types=("Placed",)))[:30]]
    )


def test_stopping_the_consumer_ends_iteration_mid_batch(aws: None) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="stops")["QueueUrl"]
    for first in (1, 2, 3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message(first=first, types=("Placed",))))

    seen = []
    with NotificationConsumer(queue_url, sqs, wait_time_seconds=0) as consumer:
        for delivery in consumer:
            with delivery as notification:
                seen.append(notification.revision)
            consumer.stop()

    assert len(seen) == 1


def test_sqs_clients_follow_the_emulator_endpoint_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "LOCALSTACK_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("LOCALSTACK_HOST", "localstack.internal:4566")
    assert make_sqs_client("eu-west-1").meta.endpoint_url == "http://localstack.internal:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert make_sqs_client("eu-west-1").meta.endpoint_url == "http://127.0.0.1:4566"
    explicit = make_sqs_client("eu-west-1", endpoint_url="http://127.0.0.1:9999")
    assert explicit.meta.endpoint_url == "http://127.0.0.1:9999"


def test_an_emulator_queue_is_reached_at_its_own_host_and_an_aws_queue_at_aws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "LOCALSTACK_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    local = make_sqs_client("us-east-1", queue_url="http://127.0.0.1:4566/000000000000/demo")
    assert local.meta.endpoint_url == "http://127.0.0.1:4566"
    aws = make_sqs_client("eu-west-1", queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/demo")
    assert aws.meta.endpoint_url == "https://sqs.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5555")  # a set endpoint still wins
    chosen = make_sqs_client("us-east-1", queue_url="http://127.0.0.1:4566/000000000000/demo")
    assert chosen.meta.endpoint_url == "http://127.0.0.1:5555"


def test_an_imported_event_without_an_id_gets_the_same_derived_id_on_every_run() -> None:
    from eventstore_client.transfer import _new_event  # noqa: PLC0415 - a private helper under test

    line = {"streamType": "Order", "streamId": "s-1", "revision": 3, "eventId": "", "eventType": "Paid"}
    first, again = _new_event(dict(line)), _new_event(dict(line))
    assert first.event_id == again.event_id
    assert first.event_id != _new_event({**line, "revision": 4}).event_id
