"""Speed-ups of moto 5.2's DynamoDB for the local runtime, installed once into the emulator's process.

All keep moto's results: tests/local_runtime check every attribute type round-trips, that sizes and
BatchGetItem answers equal un-patched moto's, and the store's end-to-end behaviour; they only remove work
that grows with item depth or table size, or that moto repeats.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any, Final

from moto.core.responses import BaseResponse
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.responses import DynamoHandler

from local_runtime.dynamodb_json import encode_value

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are patched once per process
    with _install_lock:
        if not _installed:
            _serialize_attribute_values_directly()
            _query_one_partition()
            _size_without_copies()
            _size_once_per_request()
            _no_xml_request_id_search_in_json()
            _installed = True


_ATTRIBUTE_VALUE_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})


def _serialize_attribute_values_directly() -> None:
    """moto 5.2 serializes each nested DynamoDB attribute by walking botocore's shape model: a Query page of
    ten 100-event commits took over a second. Attribute values are already JSON but for binary, so they are
    written as they are (tests/local_runtime check that every attribute type round-trips)."""
    original = BaseJSONSerializer._serialize_type_structure  # noqa: SLF001 - the patch point

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        service = self.operation_model.service_model.service_name
        if (
            key
            and shape.name == "AttributeValue"
            and service in _ATTRIBUTE_VALUE_SERVICES
            and isinstance(value, dict)
        ):
            self._default_serialize(serialized, encode_value(value), shape, key)
        else:
            original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]  # noqa: SLF001


_partition = threading.local()
_RANGE_COMPARISON_POSITION = 0  # Table.query's arguments after hash_key, as moto's backend passes them
_RANGE_OBJECTS_POSITION = 1
_INDEX_NAME_POSITION = 6
_NATIVE_KEY_TYPES: Final = frozenset({"N", "S"})
"""Range key types whose DynamoType order is their cast value's (Decimal, str): moto compares by it."""
_LOWER_BOUNDED: Final = frozenset({"=", ">=", ">", "BETWEEN", "EQ", "GE", "GT"})  # moto spells both ways
_UPPER_BOUNDED: Final = frozenset({"=", "<=", "<", "EQ", "LE", "LT"})


def _query_one_partition() -> None:
    """moto's Query on the base table sorts every item of the table (comparing DynamoTypes in Python) and
    then walks the partition's from its first item: each append's Query would cost more as the table grows,
    and a feed page far down the feed's partition walked every item before it. The partition is a dict
    lookup away, sorted by the keys' cast values, and cut to the key condition's bounds by bisection; moto
    still applies the condition, the start key, the limit and the order to what is left, so its answer is
    unchanged (tests/local_runtime/test_moto_speedups.py checks it against DynamoDB's rules, written out)."""
    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Table) -> list[Any]:
        index = getattr(_partition, "index", None)
        if index is not None:
            return _index_entries(self, index)
        key = getattr(_partition, "key", None)
        if key is None or not self.range_key_attr:
            return original_all_items(self)
        partition = self.items.get(key, {})  # .get: `items` is a defaultdict, a lookup would add the key
        if self.range_key_type not in _NATIVE_KEY_TYPES:
            return sorted(partition.values(), key=lambda item: item.range_key)
        # Each key cast once: range keys are unique in a partition, so the pairs sort by key alone.
        pairs = sorted(((item.range_key.cast_value, item) for item in partition.values()), key=_first)
        return _within([item for _, item in pairs], [cast for cast, _ in pairs], _partition.condition)

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = (
            args[_INDEX_NAME_POSITION] if len(args) > _INDEX_NAME_POSITION else kwargs.get("index_name")
        )
        if index_name is not None:
            indexes = {index.name: index for index in self.all_indexes()}
            _partition.index = indexes.get(index_name)
            try:
                return original_query(self, hash_key, *args, **kwargs)
            finally:
                _partition.index = None
        if hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        _partition.condition = (
            (args[_RANGE_COMPARISON_POSITION], args[_RANGE_OBJECTS_POSITION])
            if len(args) > _RANGE_OBJECTS_POSITION
            else (kwargs.get("range_comparison"), kwargs.get("range_objs"))
        )
        _partition.key = hash_key
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _partition.key = None
            _partition.condition = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _index_entries(table: Table, index: Any) -> list[Item]:
    """An index's entries, as DynamoDB keeps them: the items holding the index's keys (a sparse index has
    no others), each cut to the index's projection. moto sorted every item of the table, then copied each
    match whole and converted it to plain JSON to project it: a listing query cost time in proportion to the
    size of the commits it named. Its order is its own sort by the index's keys, which it applies after."""
    keys = [key["AttributeName"] for key in index.schema]
    partitions: Any = table.items.values()  # item maps by range key, or items (no range key)
    stored: list[Item] = (
        [item for partition in partitions for item in partition.values()]
        if table.range_key_attr
        else list(partitions)
    )
    entries = [item for item in stored if all(key in item.attrs for key in keys)]
    projection = (index.projection or {}).get("ProjectionType", "ALL")
    if projection not in {"KEYS_ONLY", "INCLUDE"}:
        return entries
    wanted = [*index.table_key_attrs, *keys]
    if projection == "INCLUDE":
        wanted += index.projection.get("NonKeyAttributes", [])
    return [
        Item(
            item.hash_key,
            item.range_key,
            {name: item.attrs[name].to_json() for name in dict.fromkeys(wanted) if name in item.attrs},
        )
        for item in entries
    ]


def _first(pair: tuple[Any, Item]) -> Any:
    return pair[0]


def _within(ordered: list[Item], keys: list[Any], condition: tuple[str | None, Any]) -> list[Item]:
    """The items (sorted by their cast range keys, `keys`) that can meet a key condition: never one that
    meets it is dropped, only those below its lower or above its upper bound (BEGINS_WITH and none: all)."""
    comparison, objects = condition
    if not comparison or not objects:
        return ordered
    start, end = 0, len(ordered)
    if comparison in _LOWER_BOUNDED:
        start = bisect.bisect_left(keys, objects[0].cast_value)
    if comparison in _UPPER_BOUNDED:
        end = bisect.bisect_right(keys, objects[0].cast_value)
    if comparison == "BETWEEN" and len(objects) > 1:
        end = bisect.bisect_right(keys, objects[1].cast_value)
    return ordered[start : max(start, end)]


UNPATCHED_VALUE_SIZE: Final = DynamoType.size
UNPATCHED_ITEM_SIZE: Final = Item.size


def _size_without_copies() -> None:
    """moto sizes a map's values by wrapping each in a new DynamoType, which copies its whole subtree again,
    level by level: a commit of ten events cost ~100 object copies per size. The values are DynamoTypes
    already (moto's constructor wraps them); they are sized as they are, by moto's own rules."""

    def size(self: DynamoType) -> int:
        if self.type == "M":
            return sum(
                bytesize(key) + (value.size() if type(value) is DynamoType else DynamoType(value).size())
                for key, value in self.value.items()
            )
        return UNPATCHED_VALUE_SIZE(self)

    DynamoType.size = size  # type: ignore[method-assign]


_sized = threading.local()


def _size_once_per_request() -> None:
    """BatchGetItem and Query size every item twice (a check against the 16 MB / 1 MB limit, then the
    running total); items do not change while one request reads them (SerializedDynamoDB runs one at a
    time, and these two only read), so the second size is the first one, remembered for the request."""
    original_batch_get = DynamoHandler.batch_get_item
    original_query = Table.query

    def item_size(self: Item) -> int:
        memo: dict[int, tuple[Item, int]] | None = getattr(_sized, "memo", None)
        if memo is None:
            return UNPATCHED_ITEM_SIZE(self)
        known = memo.get(id(self))
        if known is None or known[0] is not self:
            known = (self, UNPATCHED_ITEM_SIZE(self))
            memo[id(self)] = known  # the item is kept, so its id is not reused during the request
        return known[1]

    def remembering(call: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(_sized, "memo", None) is not None:
                return call(*args, **kwargs)
            _sized.memo = {}
            try:
                return call(*args, **kwargs)
            finally:
                _sized.memo = None

        return wrapper

    Item.size = item_size  # type: ignore[method-assign]
    DynamoHandler.batch_get_item = remembering(original_batch_get)  # type: ignore[method-assign]
    Table.query = remembering(original_query)  # type: ignore[method-assign]


def _no_xml_request_id_search_in_json() -> None:
    """moto runs a regular expression for an XML `<RequestId>` element over every response body: a feed
    page's 1.3 MB of JSON was scanned character by character for nothing. A body without that element is
    left as it is (what the search would do), the headers are enriched as before."""
    original = BaseResponse._enrich_response  # noqa: SLF001 - the patch point

    def enrich(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" not in body:
            enriched, _ = original(headers, "")
            return enriched, body
        return original(headers, body)

    BaseResponse._enrich_response = staticmethod(enrich)  # type: ignore[method-assign]  # noqa: SLF001
