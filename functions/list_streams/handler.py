"""Lambda behind `GET /streams/{streamType}`."""

from __future__ import annotations

from typing import Any

from eventstore.api import streams
from eventstore.service import ApiService, dynamodb_client, dynamodb_store

DYNAMODB = dynamodb_client()
SERVICE = ApiService(dynamodb_store(DYNAMODB, listing=True), {"listStreams": streams.list_streams})


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
