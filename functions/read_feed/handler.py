"""Lambda behind the feeds: `GET /feed` (all stream types) and `GET /streams/{streamType}/feed`, and the
registry of stream types their writer keeps (`GET /stream-types`)."""

from __future__ import annotations

from typing import Any

from eventstore.api import feeds
from eventstore.service import ApiService, dynamodb_client, dynamodb_store, keyring, payload_bucket

DYNAMODB = dynamodb_client()
SERVICE = ApiService(
    dynamodb_store(
        DYNAMODB, keys=keyring(DYNAMODB, kms=True), payloads=payload_bucket(), prepare=("feed_source",)
    ),
    {
        "readFeed": feeds.read_feed,
        "readTypeFeed": feeds.read_type_feed,
        "listStreamTypes": feeds.list_stream_types,
    },
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
