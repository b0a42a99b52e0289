"""Lambda behind `GET /streams/{streamType}`."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store

SERVICE = ApiService(dynamodb_store(listing=True), {"listStreams": api.list_streams})


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
