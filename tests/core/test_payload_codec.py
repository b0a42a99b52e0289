"""The stored payload forms (eventstore.commits): plain JSON text, zlib-compressed, sealed; old items read."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import uuid
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.capacity import item_size, units
from eventstore.appends import NewEvent
from eventstore.commits import decode_commit, encode_commit, pack_payload, unpack_payload
from eventstore.domain import Caller
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.payloads import response_bytes

CALLER = Caller(principal="arn:aws:iam::123456789012:user/writer", request_id="r-1")


def realistic_order() -> dict[str, Any]:
    """About 1 KB of JSON as an order service writes it: ids, names, prices, a few lines."""
    return {
        "orderId": "9f8c2e1a-7b3d-4c5e-8f6a-1b2c3d4e5f60",
        "customerId": "c-20931",
        "placedAt": "2026-11-30T14:21:07.123456Z",
        "currency": "EUR",
        "shippingAddress": {
            "street": "Rue de la Loi 170",
            "city": "Bruxelles",
            "postalCode": "1040",
            "country": "BE",
        },
        "lines": [
            {"sku": f"SKU-{n:05d}", "name": name, "quantity": n % 3 + 1, "unitPrice": price, "vatRate": 0.21}
            for n, (name, price) in enumerate(
                [
                    ("Espresso beans, 1 kg", 18.9),
                    ("Ceramic cup, white", 7.5),
                    ("Milk frother", 39.0),
                    ("Descaler, 500 ml", 6.25),
                    ("Paper filters, 100 pcs", 3.1),
                    ("Gift card", 25.0),
                    ("Travel mug, steel", 14.95),
                ]
            )
        ],
        "discounts": [{"code": "WINTER26", "amount": 5.0}],
        "notes": "Leave the parcel with the neighbour at number 172 if nobody answers; ring twice.",
        "payment": {"method": "card", "brand": "visa", "last4": "4242", "authorizationId": "auth_8Hq2Lm"},
        "channel": "web",
    }


def commit_item(payload: Any, **encode: Any) -> dict[str, Any]:
    events = [NewEvent(str(uuid.uuid4()), "OrderPlaced", payload)]
    return encode_commit(
        "order",
        str(uuid.uuid4()),
        1,
        events,
        committed_at="2026-11-30T14:21:07.123456Z",
        digest="d" * 43,
        caller=CALLER,
        **encode,
    )


def test_a_compressible_payload_is_stored_compressed_and_reads_back_equal() -> None:
    payload = realistic_order()
    item = commit_item(payload)
    (entry,) = item["events"]["L"]
    assert set(entry["M"]) == {"id", "type", "dataZ", "meta"}
    assert decode_commit(item).events[0].payload == payload
    plain_text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(entry["M"]["dataZ"]["B"]) < len(plain_text) * 0.7


@pytest.mark.parametrize("payload", [None, 1, "short", {"a": 1}, "\x78\x9c looks like zlib", ""])
def test_a_payload_zlib_does_not_shrink_stays_plain_text(payload: Any) -> None:
    item = commit_item(payload)
    (entry,) = item["events"]["L"]
    assert set(entry["M"]) == {"id", "type", "data", "meta"}
    assert decode_commit(item).events[0].payload == payload


def test_items_written_before_compression_still_read() -> None:
    old_item = {
        "streamId": {"S": "7b0c7f3e-3f7e-4a51-9d0e-27b0a3e9c001"},
        "revision": {"N": "1"},
        "streamType": {"S": "order"},
        "lastRevision": {"N": "2"},
        "committedAt": {"S": "2026-01-01T00:00:00.000000Z"},
        "digest": {"S": "x"},
        "events": {
            "L": [
                {
                    "M": {
                        "id": {"S": "e1"},
                        "type": {"S": "A"},
                        "data": {"S": '{"big":"' + "y" * 900 + '"}'},
                        "meta": {"S": "{}"},
                    }
                },
                {"M": {"id": {"S": "e2"}, "type": {"S": "B"}, "data": {"S": '"text"'}, "meta": {"S": "{}"}}},
            ]
        },
    }
    commit = decode_commit(old_item)
    assert [e.payload for e in commit.events] == [{"big": "y" * 900}, "text"]


def test_stream_records_carry_binary_as_base64_and_decode_the_same() -> None:
    item = commit_item(realistic_order())
    (entry,) = item["events"]["L"]
    entry["M"]["dataZ"]["B"] = base64.b64encode(entry["M"]["dataZ"]["B"]).decode()
    assert decode_commit(item).events[0].payload == realistic_order()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_every_payload_round_trips_in_both_forms(payload: Any) -> None:
    assert decode_commit(commit_item(payload)).events[0].payload == payload
    assert unpack_payload(pack_payload(payload)) == payload


def test_sealed_plaintext_is_compressed_before_encryption_when_shorter() -> None:
    packed = pack_payload(realistic_order())
    assert packed[:1] == b"\x01"
    assert json.loads(zlib.decompress(packed[1:])) == realistic_order()
    assert pack_payload("x")[:1] == b"\x00"


def test_a_realistic_one_kilobyte_commit_costs_fewer_write_units_compressed(
    moto_store: DynamoEventStore,
) -> None:
    """The commit item as the DynamoDB store writes it (listing entry, writeId), by bench.capacity's rules."""
    payload = realistic_order()
    text = json.dumps(payload, separators=(",", ":"))
    assert 1000 <= len(text) <= 1200
    stream_id = str(uuid.uuid4())
    moto_store.create("order", stream_id, [NewEvent(str(uuid.uuid4()), "OrderPlaced", payload)], CALLER)
    stored = moto_store.table.get_item(stream_id, 1)
    assert stored is not None
    before = copy.deepcopy(stored)
    entry = before["events"]["L"][0]["M"]
    del entry["dataZ"]
    entry["data"] = {"S": text}
    assert (units(item_size(before)), units(item_size(stored))) == (2, 1)


@given(json_values, st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3))
def test_the_response_size_known_from_decoding_is_the_measured_one(payload: Any, metadata: Any) -> None:
    """Pages are cut by sizes taken from the stored text: they must be what rendering measures."""
    item = encode_commit(
        "order",
        "s",
        1,
        [NewEvent("e", "T", payload, metadata)],
        committed_at="2026-01-01T00:00:00.000000Z",
        digest="d",
        caller=CALLER,
    )
    (event,) = decode_commit(item).events
    assert event.text_bytes is not None
    assert response_bytes(event) == response_bytes(dataclasses.replace(event, text_bytes=None))
