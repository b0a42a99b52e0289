"""A realistic 1 KB event payload: what an order event of a business system looks like, not `"xxxx…"`.

Write units depend on the stored size, and a compressing commit codec shrinks repeated characters to almost
nothing; real events (ids, amounts, timestamps, codes and some free text) compress about 2-3x. Each payload
is different (seeded by its index), and its JSON text is exactly 1,024 bytes.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

PAYLOAD_BYTES: Final = 1024
_NOTES: Final = (
    "please leave the parcel with the neighbour at number if nobody answers ring twice gate code is on "
    "the left side fragile glass handle with care deliver before noon invoice to the finance department "
    "attention procurement reference quarterly order for the warehouse in the north wing call ahead"
)
_WORDS: Final = tuple(_NOTES.split(" "))
_SKUS: Final = ("KB", "MS", "LP", "MN", "CH", "DK", "HS", "CB")
_CITIES: Final = ("Lisboa", "Rotterdam", "Krakow", "Lyon", "Goteborg", "Bilbao", "Leipzig", "Tampere")
_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def realistic_payload(index: int, size: int = PAYLOAD_BYTES) -> dict[str, Any]:
    """An order event's payload, different for each index, whose compact JSON is exactly `size` bytes."""
    rng = random.Random(index)  # noqa: S311 - reproducible test data, not secrets
    placed = _EPOCH + timedelta(seconds=rng.randrange(300 * 86400), microseconds=rng.randrange(10**6))
    lines: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "orderId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "customerId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "placedAt": placed.isoformat().replace("+00:00", "Z"),
        "currency": rng.choice(("EUR", "USD", "GBP", "SEK")),
        "channel": rng.choice(("web", "app", "store", "phone")),
        "lines": lines,
        "shipping": {
            "city": rng.choice(_CITIES),
            "postcode": f"{rng.randrange(10000, 99999)}",
            "method": rng.choice(("standard", "express", "pickup")),
            "promisedBy": (placed + timedelta(days=rng.randrange(1, 6))).date().isoformat(),
        },
        "totals": {},
        "note": "",
    }
    while len(_compact(payload)) < size - 200:
        quantity, price = rng.randrange(1, 12), rng.randrange(199, 99999)
        lines.append(
            {
                "sku": f"{rng.choice(_SKUS)}-{rng.randrange(1000, 9999)}",
                "quantity": quantity,
                "unitPriceCents": price,
                "discountPct": rng.choice((0, 0, 5, 10, 15)),
            }
        )
        net = sum(int(line["quantity"]) * int(line["unitPriceCents"]) for line in lines)
        payload["totals"] = {"netCents": net, "taxCents": net * 21 // 100, "items": len(lines)}
    note = ""
    while len(_compact(payload | {"note": note})) < size:
        note = (note + " " + rng.choice(_WORDS)).strip()
    payload["note"] = note[: len(note) - (len(_compact(payload | {"note": note})) - size)]
    assert len(_compact(payload)) == size
    return payload


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
