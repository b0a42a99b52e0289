"""jsontext: rendering that depth cannot break, the nesting count, and the number rule at its edges."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstore import jsontext

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40,
)


@given(JSON_VALUES)
def test_the_recursion_free_renderer_writes_what_json_dumps_writes(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert "".join(jsontext._chunks(value)) == expected
    assert jsontext.dumps(value) == expected


def test_values_deeper_than_json_dumps_can_go_still_render() -> None:
    levels = 50_000
    deep: Any = {"leaf": "é"}
    for index in range(levels):
        deep = [deep] if index % 2 else {"k": deep}
    with pytest.raises(RecursionError):
        json.dumps(deep)
    text = jsontext.dumps(deep)
    assert text.startswith('[{"k":[{"k":[')
    assert text.endswith("]}]}]")
    assert text.count("[") == levels // 2
    assert '{"leaf":"é"}' in text


@given(JSON_VALUES)
def test_nesting_counts_arrays_and_objects(value: Any) -> None:
    def reference(v: Any) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        return 0 if children is None else 1 + max(map(reference, children), default=0)

    assert jsontext.nesting(value) == reference(value)
    assert jsontext.nesting(value, beyond=1) == min(reference(value), 2)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("9007199254740991", True),
        ("-9007199254740991", True),
        ("9007199254740992", False),
        ("-9007199254740992", False),
        ("9007199254740991.0", True),
        ("9.007199254740993e15", False),
        ("1e-400", True),  # rounds to 0.0, the nearest double, like any fraction
        ("1e400", False),
        ("-1e400", False),
        ("0.1", True),
        ("1" + "0" * 5000, False),  # past int()'s 4,300-digit limit: refused, not a ValueError
    ],
)
def test_numbers_are_doubles_within_2_to_the_53(text: str, *, accepted: bool) -> None:
    if accepted:
        assert jsontext.loads(text) == json.loads(text)
    else:
        with pytest.raises(jsontext.InvalidJson) as refused:
            jsontext.loads(f'{{"a": [{text}]}}')
        assert [pointer for pointer, _ in refused.value.problems] == ["/a/0"]
