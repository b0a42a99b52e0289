"""notify_stream on saved, real-shaped Lambda DynamoDB Streams events."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from eventstore.notifications import parse_event
from tests.notify.conftest import TABLE, NotifierFactory
from tests.notify.harness import Bus, body_of
from tests.support import load_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ORDER = "5f0c6c1e-8a4b-4c3e-9d2a-1b7e3f9a6c01"
INVOICE = "c2d9e4a7-3f1b-4e8c-a6d5-7b0f2e9c4d12"


def sequence_numbers(event: dict[str, Any], *indexes: int) -> list[str]:
    return [event["Records"][i]["dynamodb"]["SequenceNumber"] for i in indexes]


def summary_revision(db: DynamoDBClient, stream_id: str) -> int | None:
    item = db.get_item(
        TableName=TABLE, Key={"streamId": {"S": stream_id}, "revision": {"N": "0"}}, ConsistentRead=True
    ).get("Item")
    return int(item["lastRevision"]["N"]) if item else None


def test_only_inserts_of_commits_are_new_events() -> None:
    batch = parse_event(load_event("dynamodb_stream_commits"))

    assert [(r.commit.stream_id, r.commit.first_revision) for r in batch.commits] == [
        (ORDER, 1),
        (INVOICE, 1),
        (ORDER, 2),
    ]
    assert batch.ignored == 3  # the summary INSERT and MODIFY, the TTL REMOVE
    assert batch.unreadable == ()


def test_a_batch_of_commits_publishes_one_notification_per_commit(
    db: DynamoDBClient, bus: Bus, make_notifier: NotifierFactory
) -> None:
    publisher = bus.flaky_publisher()

    outcome = make_notifier(publisher, bus.topic_arn).process(
        parse_event(load_event("dynamodb_stream_commits"))
    )

    assert outcome.response() == {"batchItemFailures": []}
    entries = [entry for call in publisher.calls for entry in call]
    assert [body_of(e) for e in entries] == [
        {
            "StreamId": ORDER,
            "StreamType": "order",
            "StreamRevision": "1",
            "streamId": ORDER,
            "streamType": "order",
            "fromRevision": 1,
            "toRevision": 1,
            "events": [
                {"revision": 1, "eventId": "6b1f0c2e-7d3a-4e5b-8f9c-0a1b2c3d4e51", "eventType": "OrderPlaced"}
            ],
            "updatedAt": "2026-11-27T09:30:00.125000Z",
        },
        {
            "StreamId": INVOICE,
            "StreamType": "invoice",
            "StreamRevision": "1",
            "streamId": INVOICE,
            "streamType": "invoice",
            "fromRevision": 1,
            "toRevision": 1,
            "events": [
                {
                    "revision": 1,
                    "eventId": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c61",
                    "eventType": "InvoiceIssued",
                }
            ],
            "updatedAt": "2026-11-27T09:30:00.125000Z",
        },
        {
            "StreamId": ORDER,
            "StreamType": "order",
            "StreamRevision": "3",
            "streamId": ORDER,
            "streamType": "order",
            "fromRevision": 2,
            "toRevision": 3,
            "events": [
                {"revision": 2, "eventId": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e71", "eventType": "OrderPaid"},
                {
                    "revision": 3,
                    "eventId": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f81",
                    "eventType": "OrderShipped",
                },
            ],
            "updatedAt": "2026-11-27T09:30:01.250000Z",
        },
    ]
    assert entries[2]["MessageAttributes"] == {
        "StreamType": {"DataType": "String", "StringValue": "order"},
        "EventTypes": {"DataType": "String.Array", "StringValue": '["OrderPaid","OrderShipped"]'},
    }
    assert all("MessageGroupId" not in e and "MessageDeduplicationId" not in e for e in entries)
    # The summaries are the notification cursors: both streams are recorded as notified.
    assert (summary_revision(db, ORDER), summary_revision(db, INVOICE)) == (3, 1)


def test_summary_changes_and_ttl_removals_publish_nothing(
    db: DynamoDBClient, bus: Bus, make_notifier: NotifierFactory
) -> None:
    publisher = bus.flaky_publisher()
    event = load_event("dynamodb_stream_not_new_events")  # summary MODIFY, TTL REMOVE, no-op commit MODIFY
    assert [r["eventName"] for r in event["Records"]] == ["MODIFY", "REMOVE", "MODIFY"]

    outcome = make_notifier(publisher, bus.topic_arn).process(parse_event(event))

    assert outcome.response() == {"batchItemFailures": []}
    assert publisher.calls == []
    assert summary_revision(db, INVOICE) is None


def test_subscribers_receive_the_saved_commits_by_stream_type(
    bus: Bus, make_notifier: NotifierFactory
) -> None:
    orders = bus.subscribe("orders", raw=True, filter_policy={"StreamType": ["order"]})
    invoices = bus.subscribe("invoices", raw=False, filter_policy={"StreamType": ["invoice"]})

    make_notifier(bus.sns, bus.topic_arn).process(parse_event(load_event("dynamodb_stream_commits")))

    assert [n.stream_and_revision for n in orders.receive()] == [(ORDER, 1), (ORDER, 3)]
    assert [n.stream_and_revision for n in invoices.receive()] == [(INVOICE, 1)]
    assert invoices.received[0].attributes == {
        "StreamType": ("String", "invoice"),
        "EventTypes": ("String.Array", '["InvoiceIssued"]'),
    }


def test_a_commit_whose_predecessor_is_not_notified_yet_is_retried_with_the_rest_of_its_stream(
    bus: Bus, make_notifier: NotifierFactory
) -> None:
    event = load_event("dynamodb_stream_commits")
    first_order_commit = event["Records"].pop(0)  # delivered later, e.g. from another shard
    publisher = bus.flaky_publisher()
    notifier = make_notifier(publisher, bus.topic_arn)

    outcome = notifier.process(parse_event(event))

    assert outcome.response()["batchItemFailures"] == [{"itemIdentifier": "4200000000031772064314"}]
    assert [body_of(e)["streamId"] for call in publisher.calls for e in call] == [INVOICE]

    notifier.process(parse_event({"Records": [first_order_commit]}))
    retried = notifier.process(parse_event(event))

    assert retried.response() == {"batchItemFailures": []}
    order_revisions = [
        body_of(e)["toRevision"] for call in publisher.calls for e in call if body_of(e)["streamId"] == ORDER
    ]
    assert order_revisions == [1, 3]


@pytest.mark.parametrize("broken", ["events", "committedAt"])
def test_an_undecodable_commit_fails_with_the_rest_of_its_stream_only(
    broken: str, bus: Bus, make_notifier: NotifierFactory
) -> None:
    event = copy.deepcopy(load_event("dynamodb_stream_commits"))
    del event["Records"][0]["dynamodb"]["NewImage"][broken]
    publisher = bus.flaky_publisher()

    outcome = make_notifier(publisher, bus.topic_arn).process(parse_event(event))

    assert outcome.failed_sequence_numbers == tuple(sequence_numbers(event, 0, 3))
    assert [body_of(e)["streamId"] for call in publisher.calls for e in call] == [INVOICE]


def test_the_saved_events_are_lambda_shaped() -> None:
    # Guards the fixtures themselves: a hand-edit that drifts from Lambda's shape fails here.
    for name in ("dynamodb_stream_commits", "dynamodb_stream_not_new_events"):
        for record in load_event(name)["Records"]:
            assert record["eventVersion"] == "1.1"
            assert record["eventSource"] == "aws:dynamodb"
            assert record["eventSourceARN"].startswith("arn:aws:dynamodb:")
            assert record["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
            assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
            assert ("NewImage" in record["dynamodb"]) == (record["eventName"] != "REMOVE")
    ttl = load_event("dynamodb_stream_not_new_events")["Records"][1]
    assert ttl["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.mark.parametrize("created", [1e18, -1e18, 253402300800])  # the last: year 10000
def test_a_creation_time_beyond_the_date_range_is_unknown_not_a_crash(created: float) -> None:
    """datetime.fromtimestamp raised OverflowError/OSError/ValueError out of parse_event for these."""
    event = copy.deepcopy(load_event("dynamodb_stream_commits"))
    event["Records"][0]["dynamodb"]["ApproximateCreationDateTime"] = created
    batch = parse_event(event)
    assert len(batch.commits) == 3
    assert batch.commits[0].written_at is None
    assert batch.commits[1].written_at is not None
