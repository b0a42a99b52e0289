"""Lambda behind `DELETE /streams/{streamType}/{streamId}`: soft delete, or a tombstone."""

from __future__ import annotations

from typing import Any

from eventstore.api import lifecycle
from eventstore.service import ApiService, dynamodb_client, dynamodb_store

DYNAMODB = dynamodb_client()
SERVICE = ApiService(
    dynamodb_store(DYNAMODB, prepare=("lifecycle",)), {"deleteStream": lifecycle.delete_stream}
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
