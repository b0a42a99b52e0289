"""Fixtures for notify_stream: moto in-process with the real table, topic and SQS subscribers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from eventstore.dynamodb.store import DynamoEventStore
from eventstore.notifications import Notifier, Publisher, TopicSettings
from eventstore.observability import Telemetry
from eventstore.table import create_table
from tests.notify.harness import STREAMS_CONFIG, Bus, StreamTap

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

REGION = "eu-west-1"
TABLE = "eventstore-test"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "EventStore",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 all-types items: feeds of a few appends already read through block indexes, their gaps
    and the open block."""
    monkeypatch.setattr("eventstore.feeds.BLOCK_ITEMS", 2)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def db(aws: None) -> DynamoDBClient:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, TABLE)
    return client


@pytest.fixture
def store(db: DynamoDBClient) -> DynamoEventStore:
    return DynamoEventStore(db, TABLE)


@pytest.fixture
def tap(db: DynamoDBClient) -> StreamTap:
    streams = boto3.client("dynamodbstreams", region_name=REGION, config=STREAMS_CONFIG)
    return StreamTap(streams, db, TABLE, REGION)


@pytest.fixture
def sns(aws: None) -> SNSClient:
    return boto3.client("sns", region_name=REGION)


@pytest.fixture
def sqs(aws: None) -> SQSClient:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def topic_arn(sns: SNSClient) -> str:
    return sns.create_topic(Name="eventstore-notifications")["TopicArn"]


@pytest.fixture
def bus(sns: SNSClient, sqs: SQSClient, topic_arn: str) -> Bus:
    return Bus(sns, sqs, topic_arn)


@pytest.fixture
def fifo_bus(sns: SNSClient, sqs: SQSClient) -> Bus:
    topic_arn = sns.create_topic(
        Name="eventstore-notifications.fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"},
    )["TopicArn"]
    return Bus(sns, sqs, topic_arn)


type NotifierFactory = Callable[[Publisher, str], Notifier]


@pytest.fixture
def make_notifier(store: DynamoEventStore) -> NotifierFactory:
    """notify_stream's Notifier on the test table, publishing through `publisher` to `topic_arn`."""

    def make(publisher: Publisher, topic_arn: str) -> Notifier:
        return Notifier(store, publisher, TopicSettings(topic_arn), Telemetry())

    return make
