"""Lambda behind `POST /streams/{streamType}`."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring

SERVICE = ApiService(dynamodb_store(keys=keyring(kms=True)), {"createStream": api.create_stream})


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
