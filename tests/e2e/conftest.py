"""One end-to-end target for every test here: a deployed stack when EVENTSTORE_URL is set, else the
local runtime (`local_store`, the whole store in a subprocess). The tests do not know which."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest

from eventstore_client import EventStoreClient, RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True, slots=True)
class Target:
    api_url: str
    region: str
    deployed: bool
    topic_arn: str | None
    aws_endpoint_url: str | None  # the emulator's; None on AWS
    access_key: str | None  # None: the default credential chain
    secret_key: str | None

    def session(self) -> botocore.session.Session:
        session = botocore.session.Session()
        if self.access_key and self.secret_key:
            session.set_credentials(self.access_key, self.secret_key)
        return session

    def client(self, **kwargs: Any) -> EventStoreClient:
        retry = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=1.0)
        return EventStoreClient(
            self.api_url, region=self.region, session=self.session(), retry=retry, **kwargs
        )

    def _aws_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.aws_endpoint_url:
            kwargs["endpoint_url"] = self.aws_endpoint_url
        if self.access_key and self.secret_key:
            kwargs |= {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}
        return kwargs

    def sqs(self) -> SQSClient:
        return boto3.client("sqs", **self._aws_kwargs())

    def sns(self) -> SNSClient:
        return boto3.client("sns", **self._aws_kwargs())

    def environment(self) -> dict[str, str]:
        """What a user's shell holds for the CLI and the README examples."""
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["EVENTSTORE_URL"] = self.api_url
        env["AWS_DEFAULT_REGION"] = env["AWS_REGION"] = self.region
        if self.access_key and self.secret_key:
            env |= {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
            env.pop("AWS_SESSION_TOKEN", None)
            env.pop("AWS_PROFILE", None)
        if self.aws_endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if self.topic_arn:
            env["EVENTSTORE_NOTIFICATION_TOPIC_ARN"] = self.topic_arn
        return env


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    url = os.environ.get("EVENTSTORE_URL")
    if url:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        client = EventStoreClient(url, region=region)  # resolves the region or fails fast, naming it
        return Target(
            api_url=url,
            region=client.region,
            deployed=True,
            topic_arn=os.environ.get("EVENTSTORE_NOTIFICATION_TOPIC_ARN"),
            aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            access_key=None,
            secret_key=None,
        )
    try:
        store = request.getfixturevalue("local_store")
    except pytest.FixtureLookupError:
        pytest.skip("no store to test: set EVENTSTORE_URL, or provide the local_store fixture")
    return Target(
        api_url=store.api_url,
        region=store.region,
        deployed=False,
        topic_arn=store.topic_arn,
        aws_endpoint_url=store.aws_endpoint_url,
        access_key=store.access_key,
        secret_key=store.secret_key,
    )


@pytest.fixture
def store(target: Target) -> Iterator[EventStoreClient]:
    with target.client() as client:
        yield client


@pytest.fixture
def stream_type() -> str:
    """A type no earlier run used, so listings and notifications on a shared stack are this test's own."""
    return f"E2e.Order.{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class Subscription:
    queue_url: str
    sqs: SQSClient


@contextlib.contextmanager
def subscribe(target: Target, stream_type: str) -> Iterator[Subscription]:
    """A fresh SQS queue subscribed to the topic with a filter policy on one stream type."""
    if not target.topic_arn:
        pytest.skip("EVENTSTORE_NOTIFICATION_TOPIC_ARN is not set for the deployed stack")
    sqs, sns = target.sqs(), target.sns()
    queue_url = sqs.create_queue(QueueName=f"e2e-{uuid.uuid4().hex[:16]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # On AWS the topic may only deliver to a queue whose policy lets it.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": target.topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscription_arn = sns.subscribe(
        TopicArn=target.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"StreamType": [stream_type]})},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    try:
        yield Subscription(queue_url, sqs)
    finally:
        sns.unsubscribe(SubscriptionArn=subscription_arn)
        sqs.delete_queue(QueueUrl=queue_url)


@pytest.fixture
def subscribed_queue(target: Target, stream_type: str) -> Iterator[Subscription]:
    with subscribe(target, stream_type) as subscription:
        yield subscription
