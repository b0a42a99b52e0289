"""Lambda behind `GET` and `PUT /streams/{streamType}/{streamId}/metadata`: a stream's lifecycle settings."""

from __future__ import annotations

from typing import Any

from eventstore.api import lifecycle
from eventstore.service import ApiService, dynamodb_client, dynamodb_store

DYNAMODB = dynamodb_client()
SERVICE = ApiService(
    dynamodb_store(DYNAMODB, prepare=("lifecycle",)),
    {"getStreamMetadata": lifecycle.get_stream_metadata, "putStreamMetadata": lifecycle.put_stream_metadata},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
