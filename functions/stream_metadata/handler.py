"""Lambda behind `GET` and `PUT /streams/{streamType}/{streamId}/metadata`: a stream's lifecycle settings."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store

SERVICE = ApiService(
    dynamodb_store(),
    {"getStreamMetadata": api.get_stream_metadata, "putStreamMetadata": api.put_stream_metadata},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
