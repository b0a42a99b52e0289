"""Lambda behind the consumers' checkpoints: `GET` and `PUT /checkpoints/{name}`."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store

SERVICE = ApiService(
    dynamodb_store(), {"getCheckpoint": api.get_checkpoint, "putCheckpoint": api.put_checkpoint}
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
