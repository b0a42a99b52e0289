"""The write-unit calculator on items of known size (DynamoDB's published sizing rules)."""

from __future__ import annotations

from bench.capacity import Index, item_size, number_size, units, write_cost

INDEX = Index("byTypeAndTime", "type", "at", ("id", "rev"), projected=("last",))


def test_strings_count_utf8_bytes_of_name_and_value() -> None:
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"é": {"S": "€"}}) == 2 + 3


def test_numbers_take_one_byte_per_two_significant_digits_plus_one() -> None:
    assert number_size("7") == 2
    assert number_size("1234") == 3
    assert number_size("12345") == 4
    assert number_size("1000") == 2  # trailing zeroes are trimmed
    assert number_size("0.00120") == 2


def test_lists_and_maps_take_three_bytes_plus_one_per_element() -> None:
    assert item_size({"l": {"L": []}}) == 1 + 3
    assert item_size({"l": {"L": [{"S": "ab"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


def test_one_write_unit_per_started_kilobyte() -> None:
    assert units(1) == 1
    assert units(1024) == 1
    assert units(1025) == 2
    assert units(0) == 1


def _item(size: int, **extra: dict[str, str]) -> dict[str, dict[str, str]]:
    base = {"id": {"S": "s"}, "rev": {"N": "1"}, **extra}
    filler = size - item_size(base) - len("pad")
    return {**base, "pad": {"S": "x" * filler}}


def test_a_put_of_a_new_item_costs_its_size() -> None:
    assert write_cost(None, _item(1024)).total == 1
    assert write_cost(None, _item(1025)).total == 2


def test_an_update_is_charged_on_the_larger_of_the_item_before_and_after() -> None:
    assert write_cost(_item(3000), _item(100)).table == 3
    assert write_cost(_item(100), _item(2100)).table == 3


def test_transactional_writes_cost_twice() -> None:
    assert write_cost(None, _item(1500), transactional=True).table == 4


def test_an_item_without_the_index_keys_is_not_indexed() -> None:
    assert write_cost(None, _item(500), indexes=[INDEX]).index == 0


def test_a_new_index_entry_is_one_put_and_a_changed_index_key_a_delete_plus_a_put() -> None:
    first = _item(200, type={"S": "order"}, at={"S": "2026-01-01"}, last={"N": "1"})
    later = _item(200, type={"S": "order"}, at={"S": "2026-01-02"}, last={"N": "2"})
    assert write_cost(None, first, indexes=[INDEX]).index == 1
    assert write_cost(first, later, indexes=[INDEX]).index == 2
    assert write_cost(first, later, indexes=[INDEX]).total == 3


def test_an_index_entry_changes_only_when_a_projected_attribute_does() -> None:
    entry = {"type": {"S": "order"}, "at": {"S": "2026-01-01"}, "last": {"N": "1"}}
    before = _item(200, **entry)
    unprojected_change = {**before, "other": {"S": "x"}}
    projected_change = {**before, "last": {"N": "2"}}
    assert write_cost(before, unprojected_change, indexes=[INDEX]).index == 0
    assert write_cost(before, projected_change, indexes=[INDEX]).index == 1


def test_the_original_designs_append_of_a_one_kilobyte_event_costs_eight_units() -> None:
    """(head update 1 + event put 2) x 2 in a transaction, plus the listing index's delete and put."""
    head = {"StreamId": {"S": "5f0c6c1e-8a4b-4c3e-9d2a-1b7e3f9a6c01"}, "Revision": {"N": "0"}}
    before = {**head, "StreamType": {"S": "order"}, "StreamRevision": {"N": "7"}, "UpdatedAt": {"S": "t1"}}
    after = {**before, "StreamRevision": {"N": "8"}, "UpdatedAt": {"S": "t2"}}
    event = {"StreamId": head["StreamId"], "Revision": {"N": "8"}, "Payload": {"S": "x" * 1024}}
    index = Index("StreamIndex", "StreamType", "UpdatedAt", ("StreamId", "Revision"), projected=None)
    cost = write_cost(before, after, indexes=[index], transactional=True)
    cost += write_cost(None, event, indexes=[index], transactional=True)
    assert (cost.table, cost.index) == (6, 2)
