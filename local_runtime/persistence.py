"""--data-dir: the table's items (and the pump's stream positions) survive a restart.

moto keeps nothing on disk, so the runtime snapshots the table to DIR (periodically and at shutdown, after
the pump has drained the stream) and restores it on start, before the pump starts at the stream's LATEST
position, so a restart re-notifies nothing. (moto cannot turn a table's stream off and on again.)
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from local_runtime.aws import Clients

log = logging.getLogger(__name__)

_BATCH_WRITE_LIMIT = 25


class DataDir:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._items = path / "table-items.json"
        self._pump = path / "pump-positions.json"
        self._page_key = path / "page-key-secret"

    def page_key_secret(self) -> str:
        """A secret per data dir, so page keys handed out before a restart still verify after it."""
        if not self._page_key.exists():
            _write_atomically(self._page_key, secrets.token_hex(32))
        return self._page_key.read_text().strip()

    def has_items(self) -> bool:
        return self._items.exists()

    def save_items(self, clients: Clients, table_name: str) -> int:
        items: list[dict[str, Any]] = []
        for page in clients.dynamodb.get_paginator("scan").paginate(
            TableName=table_name, ConsistentRead=True
        ):
            items.extend(_encode(item) for item in page.get("Items", []))
        _write_atomically(self._items, json.dumps(items))
        return len(items)

    def restore_items(self, clients: Clients, table_name: str) -> int:
        items = [_decode(item) for item in json.loads(self._items.read_text())]
        for start in range(0, len(items), _BATCH_WRITE_LIMIT):
            requests: Any = [
                {"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_LIMIT]
            ]
            while requests:
                response = clients.dynamodb.batch_write_item(RequestItems={table_name: requests})
                requests = response.get("UnprocessedItems", {}).get(table_name, [])
        return len(items)

    def load_positions(self, stream_arn: str) -> dict[str, str]:
        """The pump's positions, if they were saved for this very stream (an external emulator's)."""
        if not self._pump.exists():
            return {}
        saved = json.loads(self._pump.read_text())
        positions: dict[str, str] = saved.get("positions", {}) if saved.get("streamArn") == stream_arn else {}
        return positions

    def save_positions(self, stream_arn: str, positions: dict[str, str]) -> None:
        _write_atomically(self._pump, json.dumps({"streamArn": stream_arn, "positions": positions}))


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _encode(value: dict[str, Any]) -> dict[str, Any]:
    """A boto3 item (bytes for binary) in DynamoDB JSON (base64 for binary)."""
    return {name: _encode_attribute(attribute) for name, attribute in value.items()}


def _encode_attribute(attribute: dict[str, Any]) -> dict[str, Any]:
    ((kind, value),) = attribute.items()
    if kind == "B":
        return {kind: base64.b64encode(value).decode("ascii")}
    if kind == "BS":
        return {kind: [base64.b64encode(v).decode("ascii") for v in value]}
    if kind == "M":
        return {kind: _encode(value)}
    if kind == "L":
        return {kind: [_encode_attribute(v) for v in value]}
    return attribute


def _decode(value: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_attribute(attribute) for name, attribute in value.items()}


def _decode_attribute(attribute: dict[str, Any]) -> dict[str, Any]:
    ((kind, value),) = attribute.items()
    if kind == "B":
        return {kind: base64.b64decode(value)}
    if kind == "BS":
        return {kind: [base64.b64decode(v) for v in value]}
    if kind == "M":
        return {kind: _decode(value)}
    if kind == "L":
        return {kind: [_decode_attribute(v) for v in value]}
    return attribute
