"""Lambda behind `DELETE /streams/{streamType}/{streamId}`: soft delete, or a tombstone."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store

SERVICE = ApiService(dynamodb_store(), {"deleteStream": api.delete_stream})


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
