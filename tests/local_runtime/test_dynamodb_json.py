"""The local runtime's DynamoDB JSON codec agrees with botocore's own serializer and parser."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from local_runtime.dynamodb_json import decode_item, encode_item, encode_value

_DYNAMODB = botocore.session.get_session().get_service_model("dynamodb")

_names = st.text(min_size=1, max_size=8)
_numbers = st.integers(min_value=-(10**20), max_value=10**20).map(str)
_scalars = st.one_of(
    st.builds(lambda v: {"S": v}, st.text(max_size=10)),
    st.builds(lambda v: {"N": v}, _numbers),
    st.builds(lambda v: {"B": v}, st.binary(max_size=10)),
    st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=5), min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"NS": v}, st.lists(_numbers, min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=5), min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.just({"NULL": True}),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(children, max_size=3)),
        st.builds(lambda v: {"M": v}, st.dictionaries(_names, children, max_size=3)),
    ),
    max_leaves=12,
)
_items = st.dictionaries(_names, _values, max_size=4)


def _botocore_wire(item: dict[str, Any]) -> Any:
    """The item as botocore puts it in a PutItem request body."""
    operation = _DYNAMODB.operation_model("PutItem")
    request = create_serializer("json").serialize_to_request({"TableName": "t", "Item": item}, operation)
    return json.loads(request["body"])["Item"]


def _botocore_parsed(wire: Any) -> Any:
    """Wire JSON as botocore hands a GetItem response's item to a caller."""
    response = {"body": json.dumps({"Item": wire}).encode(), "headers": {}, "status_code": 200}
    output = _DYNAMODB.operation_model("GetItem").output_shape
    assert output is not None
    return create_parser("json").parse(response, output)["Item"]


@given(_items)
def test_encoding_is_botocores_wire_json(item: dict[str, Any]) -> None:
    assert encode_item(item) == _botocore_wire(item)


@given(_items)
def test_decoding_is_botocores_parse(item: dict[str, Any]) -> None:
    wire = _botocore_wire(item)
    assert decode_item(wire) == _botocore_parsed(wire)
    assert decode_item(wire) == item


def test_binary_already_in_text_passes_as_is() -> None:
    # moto's models hold some binary values base64-encoded; encoding them again would corrupt them.
    held = {"M": {"b": {"B": "AQI="}, "bs": {"BS": ["AQI=", b"\x01\x02"]}}}
    assert encode_value(held) == {"M": {"b": {"B": "AQI="}, "bs": {"BS": ["AQI=", "AQI="]}}}
