"""JSON text in and out: the store's rules for numbers and nesting, and rendering that depth cannot break.

Numbers are IEEE-754 doubles (RFC 8259 §6, I-JSON RFC 7493) within ±(2^53 - 1): a fraction is rounded to
the nearest double, as every JSON parser does, and in that range doubles hold every integer exactly, so no
integer is ever changed. Beyond it (a 20-digit id, 1e400) the request is refused; such values travel as
strings. openapi.yaml says the same (schema JsonValue), so generated clients and fuzzers agree.

Nesting: a payload or metadata value nests at most MAX_NESTING arrays and objects (DynamoDB's own limit
for documents), so a response (which puts a payload 3 levels below its root) stays far inside the limits
of every JSON parser (.NET's default is 64, serde_json's 128). Values stored before the limit existed can
be much deeper: `dumps` renders those without recursion rather than failing the read.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from typing import Any, Final

MAX_EXACT_INTEGER: Final = 2**53 - 1
"""The largest integer a double holds exactly, with every integer below it (JavaScript's MAX_SAFE_INTEGER)."""

MAX_NESTING: Final = 32
"""Arrays and objects a payload or metadata value may nest (a scalar nests 0, `[]` 1, `{"a": [1]}` 2)."""

MAX_BODY_NESTING: Final = 2 * MAX_NESTING
"""What a request body may nest at all: deeper ones are refused before anything looks inside them."""

_INT_MAX_STR_DIGITS: Final = sys.get_int_max_str_digits() or 4300


class InvalidJson(ValueError):
    """The text is JSON, but values in it break the store's rules; `problems` holds (pointer, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{pointer or '/'}: {reason}" for pointer, reason in problems))


class _Refused:
    """Stands in for an integer too long for int() (over 4,300 digits), so the parse can go on. A plain
    class, not a dataclass: every function imports this module, and a dataclass costs ~0.7 ms of init."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def loads(text: str) -> Any:
    """Parse JSON text under the store's rules.

    Raises InvalidJson (located problems) for numbers outside the rule, strings that cannot be UTF-8 (lone
    surrogates) and bodies nesting deeper than MAX_BODY_NESTING; ValueError for text that is not JSON.
    """
    try:
        try:
            value = json.loads(text, parse_constant=_constant)
        except ValueError:
            # Perhaps an integer too long for int() (4,300 digits): read those as _Refused, to name them.
            value = json.loads(text, parse_int=_parse_int, parse_constant=_constant)
    except RecursionError:
        raise InvalidJson([("", f"nests more than {MAX_BODY_NESTING} arrays and objects")]) from None
    depth, numbers_in_range = _survey(value, MAX_BODY_NESTING)
    if depth > MAX_BODY_NESTING:
        too_deep = next(
            p for p, n in _walk(value) if isinstance(n, dict | list) and len(p) >= MAX_BODY_NESTING
        )
        raise InvalidJson(
            [(_pointer(too_deep), f"is nested more than {MAX_BODY_NESTING} arrays and objects deep")]
        )
    problems = [] if numbers_in_range else _numbers_out_of_range(value)
    if "\\u" in text or not _utf8(text):
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # lone surrogates (e.g. "\ud800") parse but are not UTF-8
            problems += _surrogates(value)
    if problems:
        raise InvalidJson(sorted(problems))
    return value


def _parse_int(digits: str) -> int | _Refused:
    return _Refused(len(digits)) if len(digits) > _INT_MAX_STR_DIGITS else int(digits)


def _survey(value: Any, beyond: int) -> tuple[int, bool]:
    """The nesting of value (counting stops beyond `beyond`) and whether every number in it keeps the
    rule, in one pass without recursion."""
    depth, nodes, in_range = 0, [value], True
    while nodes:
        children: list[Any] = []
        has_container = False
        for node in nodes:
            if isinstance(node, dict):
                children += node.values()
                has_container = True
            elif isinstance(node, list):
                children += node
                has_container = True
            elif in_range and not _number_in_range(node):
                in_range = False
        if not has_container:
            break
        depth += 1
        if depth > beyond:
            break
        nodes = children
    return depth, in_range


def _number_in_range(node: Any) -> bool:
    if isinstance(node, float | int) and not isinstance(node, bool):
        return abs(node) <= MAX_EXACT_INTEGER  # False for NaN and the infinities (1e400)
    return not isinstance(node, _Refused)


def _numbers_out_of_range(value: Any) -> list[tuple[str, str]]:
    found = []
    for path, node in _walk(value):
        if not isinstance(node, dict | list) and not _number_in_range(node):
            if isinstance(node, _Refused):
                shown = f"a number of {node.digits} digits"
            elif isinstance(node, float) and math.isinf(node):
                shown = "a number too large for a double"
            else:
                shown = f"the number {_excerpt(repr(node))}"
            reason = f"{shown} is beyond ±{MAX_EXACT_INTEGER} (2^53 - 1), where doubles stop"
            found.append((_pointer(path), f"{reason} holding every integer; send it as a string"))
    return found


def nesting(value: Any, *, beyond: int | None = None) -> int:
    """How many arrays and objects nest in value (0 for a scalar), counted without recursion; when
    `beyond` is given, counting stops once it is exceeded (the answer is then beyond + 1)."""
    depth, level = 0, [value] if isinstance(value, dict | list) else []
    while level and (beyond is None or depth <= beyond):
        depth += 1
        containers: list[Any] = []
        for node in level:
            containers += [
                c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, dict | list)
            ]
        level = containers
    return depth


def dumps(value: Any) -> str:
    """Compact JSON text, the same as json.dumps, for any depth (deeply nested values without recursion)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        return "".join(_chunks(value))


# Internals -----------------------------------------------------------------------------------------


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _excerpt(number: str) -> str:
    return number if len(number) <= 40 else f"{number[:20]}…({len(number)} characters)"  # noqa: PLR2004


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _walk(value: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every value inside value (itself first) with its path, in document order, without recursion."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, dict):
            stack += [((*path, key), child) for key, child in reversed(node.items())]
        elif isinstance(node, list):
            stack += [((*path, index), child) for index, child in reversed(list(enumerate(node)))]


def _surrogates(value: Any) -> list[tuple[str, str]]:
    found = []
    for path, node in _walk(value):
        if isinstance(node, dict):
            found += [
                (_pointer(path), f"the member name {key!r} is not UTF-8 (it holds a lone surrogate)")
                for key in node
                if not _utf8(key)
            ]
        elif isinstance(node, str) and not _utf8(node):
            found.append((_pointer(path), "the string is not UTF-8 (it holds a lone surrogate)"))
    return found


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class _Close(str):
    """A piece of JSON text between values (as opposed to a string value)."""

    __slots__ = ()


def _chunks(value: Any) -> Iterator[str]:
    """json.dumps's compact output, piece by piece, with an explicit stack instead of recursion."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, _Close):
            yield node
        elif isinstance(node, dict):
            yield "{"
            stack.append(_Close("}"))
            for index, (key, child) in reversed(list(enumerate(node.items()))):
                stack += [child, _Close(("," if index else "") + json.dumps(key, ensure_ascii=False) + ":")]
        elif isinstance(node, list):
            yield "["
            stack.append(_Close("]"))
            for index, child in reversed(list(enumerate(node))):
                stack += [child, *([_Close(",")] if index else [])]
        else:
            yield json.dumps(node, ensure_ascii=False)
