"""Lambda on the table's DynamoDB stream: one SNS notification per accepted append."""

from __future__ import annotations

from typing import Any

import boto3

from eventstore import notifications, observability
from eventstore.config import TopicSettings
from eventstore.service import SDK_CONFIG, dynamodb_store

# Not Powertools' BatchProcessor: it handles one record at a time; this coalesces per stream and batches 10.
NOTIFIER = notifications.Notifier(
    dynamodb_store(),
    boto3.client("sns", config=SDK_CONFIG),
    TopicSettings.from_environment(),
    observability.Telemetry(),
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, list[dict[str, str]]]:
    observability.instrument_aws_sdk()
    return NOTIFIER.process(notifications.parse_event(event)).response()
