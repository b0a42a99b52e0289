"""Lambda behind the appends: `POST .../{streamId}/events` and `PUT .../{streamId}/events/{revision}`."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring, payload_bucket

SERVICE = ApiService(
    dynamodb_store(keys=keyring(kms=True), payloads=payload_bucket()),
    {"appendEvents": api.append_events, "appendEvent": api.append_event},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
