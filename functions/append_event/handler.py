"""Lambda behind the appends: `POST .../{streamId}/events` and `PUT .../{streamId}/events/{revision}`."""

from __future__ import annotations

from typing import Any

from eventstore.api import streams
from eventstore.service import ApiService, dynamodb_client, dynamodb_store, keyring, payload_bucket

DYNAMODB = dynamodb_client()
SERVICE = ApiService(
    dynamodb_store(
        DYNAMODB, keys=keyring(DYNAMODB, kms=True), payloads=payload_bucket(), prepare=("writer",)
    ),
    {"appendEvents": streams.append_events, "appendEvent": streams.append_event},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
