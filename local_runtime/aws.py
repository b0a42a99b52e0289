"""boto3 clients for the emulator, and the resources the store needs on it (created idempotently)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from eventstore.dynamodb.keys import create_keys_table
from eventstore.table import create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


@dataclass(frozen=True, slots=True)
class Clients:
    dynamodb: DynamoDBClient
    streams: DynamoDBStreamsClient
    sns: SNSClient
    sqs: SQSClient
    kms: KMSClient
    s3: S3Client

    @classmethod
    def connect(cls, endpoint_url: str, region: str, access_key: str, secret_key: str) -> Clients:
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        return cls(
            dynamodb=session.client("dynamodb", endpoint_url=endpoint_url, config=_CONFIG),
            streams=session.client("dynamodbstreams", endpoint_url=endpoint_url, config=_CONFIG),
            sns=session.client("sns", endpoint_url=endpoint_url, config=_CONFIG),
            sqs=session.client("sqs", endpoint_url=endpoint_url, config=_CONFIG),
            kms=session.client("kms", endpoint_url=endpoint_url, config=_CONFIG),
            s3=session.client("s3", endpoint_url=endpoint_url, config=_CONFIG),
        )


def ensure_table(clients: Clients, table_name: str) -> bool:
    """Create the table (from table.json, with its stream) unless it exists; True when it was created."""
    try:
        create_table(clients.dynamodb, table_name)
    except clients.dynamodb.exceptions.ResourceInUseException:
        log.info("table %s exists, reusing it", table_name)
        return False
    return True


def ensure_keys_table(clients: Clients, table_name: str) -> None:
    """Create the data-subject keys table (table.json's `data_subject_keys`) unless it exists."""
    try:
        create_keys_table(clients.dynamodb, table_name)
    except clients.dynamodb.exceptions.ResourceInUseException:
        log.info("table %s exists, reusing it", table_name)


def ensure_payload_bucket(clients: Clients, bucket: str) -> None:
    """Create the bucket for payloads too large for a commit item unless it exists (as the table)."""
    region = clients.s3.meta.region_name
    try:
        if region == "us-east-1":  # the one region S3 refuses a location constraint for
            clients.s3.create_bucket(Bucket=bucket)
        else:
            clients.s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
    except clients.s3.exceptions.BucketAlreadyOwnedByYou:
        log.info("bucket %s exists, reusing it", bucket)


def stream_arn(clients: Clients, table_name: str) -> str:
    table = clients.dynamodb.describe_table(TableName=table_name)["Table"]
    arn = table.get("LatestStreamArn")
    if not arn or not table.get("StreamSpecification", {}).get("StreamEnabled"):
        raise RuntimeError(f"table {table_name} has no stream enabled")
    return arn


def ensure_topic(clients: Clients, name: str) -> str:
    # CreateTopic is idempotent: it returns the existing topic's ARN.
    return clients.sns.create_topic(Name=name)["TopicArn"]


def ensure_queue(clients: Clients, name: str) -> str:
    return clients.sqs.create_queue(QueueName=name)["QueueUrl"]


def subscribe_queue(clients: Clients, topic_arn: str, queue_url: str) -> None:
    """Deliver the topic's messages to the queue as sent (raw), as a consumer's subscription would.

    Subscribe is idempotent: the same topic, protocol, endpoint and attributes give the same subscription.
    """
    queue_arn = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    clients.sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )


def ensure_bucket(clients: Clients, name: str) -> None:
    """The archive bucket (versioned, as Terraform makes it); an existing one is reused."""
    try:
        clients.s3.create_bucket(Bucket=name)
    except clients.s3.exceptions.BucketAlreadyOwnedByYou:
        log.info("bucket %s exists, reusing it", name)
    clients.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
