"""Lambda behind the streams' snapshots: `GET` and `PUT /streams/{streamType}/{streamId}/snapshot`."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring

SERVICE = ApiService(
    dynamodb_store(keys=keyring(kms=True)),
    {"getSnapshot": api.get_snapshot, "putSnapshot": api.put_snapshot},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
