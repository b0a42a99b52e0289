"""Lambda behind `POST /streams/{streamType}`."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring, payload_bucket

SERVICE = ApiService(
    dynamodb_store(keys=keyring(kms=True), payloads=payload_bucket()), {"createStream": api.create_stream}
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
