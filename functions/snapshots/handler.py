"""Lambda behind the streams' snapshots: `GET` and `PUT /streams/{streamType}/{streamId}/snapshot`."""

from __future__ import annotations

from typing import Any

from eventstore.api import snapshots
from eventstore.service import ApiService, dynamodb_client, dynamodb_store, keyring

DYNAMODB = dynamodb_client()
SERVICE = ApiService(
    dynamodb_store(DYNAMODB, keys=keyring(DYNAMODB, kms=True), prepare=("snapshots",)),
    {"getSnapshot": snapshots.get_snapshot, "putSnapshot": snapshots.put_snapshot},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
