"""DynamoDB write capacity from the items actually written, by DynamoDB's published rules.

Sizes (Developer Guide, "DynamoDB item sizes and formats"): an item is the sum of its attribute names and
values; strings are UTF-8 bytes; numbers take 1 byte per two significant digits plus 1; binary its raw
bytes; null and booleans 1 byte; a list or map 3 bytes plus 1 byte per element plus its elements (a map
element also its name). Capacity (Developer Guide, "read and write operations", "GSI writes"): 1 WRU per
started 1 KB; PutItem and UpdateItem are charged on the larger of the item before and after; in a
transaction every write costs twice; a global secondary index is written when an indexed item appears,
disappears or changes: a new index key is a delete plus a put, each charged on its index entry's size.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

KB = 1024

type Item = Mapping[str, Any]
"""An item in DynamoDB's JSON form: {"name": {"S": "..."}, ...}."""


def number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeroes trimmed), plus 1."""
    digits = Decimal(text).normalize().as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0")) or 1
    return math.ceil(significant / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:  # noqa: PLR0911 - one return per DynamoDB type
    ((kind, content),) = value.items()
    match kind:
        case "S":
            return len(content.encode())
        case "N":
            return number_size(content)
        case "B":
            raw = content if isinstance(content, bytes) else base64.b64decode(content)
            return len(raw)
        case "BOOL" | "NULL":
            return 1
        case "SS":
            return sum(len(s.encode()) for s in content)
        case "NS":
            return sum(number_size(n) for n in content)
        case "L":
            return 3 + sum(1 + value_size(v) for v in content)
        case "M":
            return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in content.items())
        case _:
            raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Item) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int) -> int:
    """Write units for one write of an item of `size` bytes: 1 per started KB (at least 1)."""
    return max(1, math.ceil(size / KB))


@dataclass(frozen=True, slots=True)
class Index:
    """A global secondary index: its keys, the table's keys, and what it projects."""

    name: str
    hash_key: str
    range_key: str
    table_keys: tuple[str, ...]
    projected: tuple[str, ...] | None
    """Non-key attributes (INCLUDE); None projects ALL."""

    def entry(self, item: Item | None) -> Item | None:
        """The index entry of an item, or None when the item is not in the (sparse) index."""
        if item is None or self.hash_key not in item or self.range_key not in item:
            return None
        if self.projected is None:
            return dict(item)
        names = {*self.table_keys, self.hash_key, self.range_key, *self.projected}
        return {k: v for k, v in item.items() if k in names}


@dataclass(frozen=True, slots=True)
class WriteCost:
    table: int
    index: int

    @property
    def total(self) -> int:
        return self.table + self.index

    def __add__(self, other: WriteCost) -> WriteCost:
        return WriteCost(self.table + other.table, self.index + other.index)


ZERO = WriteCost(0, 0)


def index_units(index: Index, old: Item | None, new: Item | None) -> int:
    before, after = index.entry(old), index.entry(new)
    if before is None and after is None:
        return 0
    if before is None:
        assert after is not None
        return units(item_size(after))
    if after is None:
        return units(item_size(before))
    key_changed = any(before[k] != after[k] for k in (index.hash_key, index.range_key))
    if key_changed:
        return units(item_size(before)) + units(item_size(after))  # delete the old entry, put the new
    if before == after:
        return 0
    return units(max(item_size(before), item_size(after)))


def write_cost(
    old: Item | None, new: Item | None, *, indexes: Sequence[Index] = (), transactional: bool = False
) -> WriteCost:
    """One PutItem/UpdateItem/DeleteItem that turned `old` into `new` (None: absent)."""
    sizes = [item_size(i) for i in (old, new) if i is not None]
    table = units(max(sizes, default=0))
    if transactional:
        table *= 2
    return WriteCost(table, sum(index_units(index, old, new) for index in indexes))


def read_units(sizes: Sequence[int], *, consistent: bool, per_item: bool) -> float:
    """Read units (Developer Guide, "read and write operations"): 1 per started 4 KB strongly consistent,
    half that eventually consistent. A Query is charged on the sum of the items it returned (at least one
    unit); GetItem and each item of a BatchGetItem on its own size, rounded up per item."""
    factor = 1.0 if consistent else 0.5
    if per_item:
        return factor * sum(max(1, math.ceil(size / (4 * KB))) for size in sizes)
    return factor * max(1, math.ceil(sum(sizes) / (4 * KB)))


@dataclass
class ReadRecorder:
    """Read units of every DynamoDB read the clients make, from the items each returned."""

    units: float = 0.0

    def register(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    @staticmethod
    def _before(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name == "BatchGetItem":
            context["bench_consistent"] = any(
                request.get("ConsistentRead", False) for request in params["RequestItems"].values()
            )
        else:
            context["bench_consistent"] = bool(params.get("ConsistentRead", False))

    def _after(self, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any) -> None:
        consistent = bool(context.get("bench_consistent", False))
        if model.name == "Query":
            sizes = [item_size(item) for item in parsed.get("Items", [])]
            self.units += read_units(sizes, consistent=consistent, per_item=False)
        elif model.name == "GetItem":
            item = parsed.get("Item")
            self.units += read_units([item_size(item) if item else 0], consistent=consistent, per_item=True)
        elif model.name == "BatchGetItem":
            sizes = [item_size(item) for items in parsed.get("Responses", {}).values() for item in items]
            self.units += read_units(sizes, consistent=consistent, per_item=True)
