"""DynamoDB's wire JSON for attribute values: the one codec of the local runtime.

boto3's low-level clients (and moto's models) hold an item as {name: {type: value}} with binary as bytes;
on the wire, and in the data dir's snapshot, binary is base64 text. These two walks convert between them;
everything else passes as it is. boto3's TypeSerializer/TypeDeserializer convert between Python values and
attribute values, a different step, and botocore's shape-driven serializer is what moto_speedups avoids for
speed, so the walks are written out here (tests/local_runtime/test_dynamodb_json.py holds them to botocore's).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item with binary as bytes → the same item in wire JSON."""
    return {name: encode_value(value) for name, value in item.items()}


def encode_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute value ({type: value}) with binary as bytes → wire JSON.

    Binary that is already text passes as it is: moto's models hold some binary values base64-encoded.
    """
    result: dict[str, Any] = {}
    for kind, item in value.items():
        if kind == "M":
            result[kind] = {name: encode_value(v) for name, v in item.items()}
        elif kind == "L":
            result[kind] = [encode_value(v) for v in item]
        elif kind == "B":
            result[kind] = _base64(item)
        elif kind == "BS":
            result[kind] = [_base64(b) for b in item]
        else:
            result[kind] = item
    return result


def decode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item in wire JSON → the same item with binary as bytes, as boto3's low-level clients take it."""
    return {name: decode_value(value) for name, value in item.items()}


def decode_value(value: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind, item in value.items():
        if kind == "M":
            result[kind] = {name: decode_value(v) for name, v in item.items()}
        elif kind == "L":
            result[kind] = [decode_value(v) for v in item]
        elif kind == "B":
            result[kind] = base64.b64decode(item)
        elif kind == "BS":
            result[kind] = [base64.b64decode(b) for b in item]
        else:
            result[kind] = item
    return result


def _base64(value: bytes | str) -> str:
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
