"""moto (mock_aws) with the events table, an archive bucket and a payload bucket."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from eventstore.table import create_table
from tests.support import AWS_TEST_REGION, aws_credentials  # noqa: F401 - the fixture: autouse here

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

REGION = AWS_TEST_REGION
TABLE = "events"
ARCHIVE = "archive-bucket"
PAYLOADS = "payload-bucket"


@dataclass(frozen=True)
class Aws:
    dynamodb: DynamoDBClient
    s3: S3Client


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        create_table(dynamodb, TABLE)
        s3.create_bucket(Bucket=ARCHIVE)
        s3.create_bucket(Bucket=PAYLOADS)
        yield Aws(dynamodb, s3)
