"""Lambda behind the consumers' checkpoints: `GET` and `PUT /checkpoints/{name}`."""

from __future__ import annotations

from typing import Any

from eventstore.api import checkpoints
from eventstore.service import ApiService, dynamodb_client, dynamodb_store

DYNAMODB = dynamodb_client()
SERVICE = ApiService(
    dynamodb_store(DYNAMODB, prepare=("checkpoints",)),
    {"getCheckpoint": checkpoints.get_checkpoint, "putCheckpoint": checkpoints.put_checkpoint},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
