"""Requests are counted at the client: one per API call, by service and operation."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from bench.harness import RequestCounter, by_service, stream_event
from bench.report import Report, Row, render


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(
            region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )


def test_every_call_is_counted_once_by_operation(session: boto3.session.Session) -> None:
    counter = RequestCounter()
    counter.register(session.events)
    client = session.client("dynamodb")
    client.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    )
    with counter.measure() as calls:
        client.put_item(TableName="t", Item={"k": {"S": "a"}})
        client.put_item(TableName="t", Item={"k": {"S": "b"}})
        client.get_item(TableName="t", Key={"k": {"S": "a"}})
    assert calls == {"dynamodb.PutItem": 2, "dynamodb.GetItem": 1}
    assert by_service(calls, "dynamodb") == 3
    assert by_service(calls, "sns") == 0
    assert counter.calls["dynamodb.CreateTable"] == 1


def test_a_client_created_before_registering_is_not_counted(session: boto3.session.Session) -> None:
    """Clients copy the session's handlers when created: register first (the benchmark does)."""
    early = session.client("sns")
    counter = RequestCounter()
    counter.register(session.events)
    early.create_topic(Name="early")
    session.client("sns").create_topic(Name="late")
    assert counter.calls == {"sns.CreateTopic": 1}


def test_stream_events_carry_each_commit_in_order() -> None:
    commits = [{"streamId": {"S": "s"}, "revision": {"N": str(n)}} for n in (1, 2)]
    records = stream_event(commits)["Records"]
    assert [r["dynamodb"]["Keys"]["revision"]["N"] for r in records] == ["1", "2"]
    assert records[0]["dynamodb"]["SequenceNumber"] < records[1]["dynamodb"]["SequenceNumber"]


def test_the_table_shows_each_target_and_verdict() -> None:
    report = Report()
    report.add(Row("s", "met one", 1.0, "x", "<= 1.25", met=True))
    report.add(Row("s", "missed one", 2.0, "x", "<= 1.25", met=False, note="why"))
    report.add(Row("s", "not measured", None, note="pending: local runtime"))
    lines = render(report).splitlines()
    assert "met" in lines[2]
    assert "NOT met" in lines[3]
    assert "why" in lines[3]
    assert "pending" in lines[4]
