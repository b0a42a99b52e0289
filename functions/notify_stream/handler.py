"""Lambda on the table's DynamoDB stream: one SNS notification per accepted append."""

from __future__ import annotations

from typing import Any

from eventstore import notifications, observability
from eventstore.notifications import TopicSettings
from eventstore.service import dynamodb_client, dynamodb_store, sns_client

DYNAMODB = dynamodb_client()
# Not Powertools' BatchProcessor: it handles one record at a time; this coalesces per stream and batches 10.
NOTIFIER = notifications.Notifier(
    dynamodb_store(DYNAMODB, prepare=("cursor", "feed_log", "lifecycle")),
    sns_client(),
    TopicSettings.from_environment(),
    observability.Telemetry(),
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, list[dict[str, str]]]:
    observability.instrument_aws_sdk()
    return NOTIFIER.process(notifications.parse_event(event)).response()
