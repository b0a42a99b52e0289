"""Lambda behind the feeds: `GET /feed` (all stream types) and `GET /streams/{streamType}/feed`, and the
registry of stream types their writer keeps (`GET /stream-types`)."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring, payload_bucket

SERVICE = ApiService(
    dynamodb_store(keys=keyring(kms=True), payloads=payload_bucket()),
    {
        "readFeed": api.read_feed,
        "readTypeFeed": api.read_type_feed,
        "listStreamTypes": api.list_stream_types,
    },
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
