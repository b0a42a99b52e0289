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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

MAX_EXACT_INTEGER: Final = 2**53 - 1
"""The largest integer a double holds exactly, with every integer below it (JavaScript's MAX_SAFE_INTEGER)."""

MAX_NESTING: Final = 32
"""Arrays and objects a payload or metadata value may nest (a scalar nests 0, `[]` 1, `{"a": [1]}` 2)."""

MAX_BODY_NESTING: Final = 2 * MAX_NESTING
"""What a request body may nest at all: deeper ones are refused before anything looks inside them."""

_EXACT_INTEGER_DIGITS: Final = len(str(MAX_EXACT_INTEGER))
_OUT_OF_RANGE: Final = (
    "the number {} is beyond ±9007199254740991 (2^53 - 1), where doubles stop holding every integer; "
    "send it as a string"
)


class InvalidJson(ValueError):
    """The text is JSON, but values in it break the store's rules; `problems` holds (pointer, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{pointer or '/'}: {reason}" for pointer, reason in problems))


@dataclass(frozen=True, slots=True, eq=False)
class _Refused:
    """Stands in for a number that breaks the rule, so the parse goes on and the number can be located."""

    reason: str


class _NumberRule:
    """json.loads hooks: numbers beyond ±MAX_EXACT_INTEGER become _Refused, to be located after the parse."""

    def __init__(self) -> None:
        self.refused = False

    def _refuse(self, number: str) -> _Refused:
        self.refused = True
        return _Refused(_OUT_OF_RANGE.format(_excerpt(number)))

    def parse_int(self, digits: str) -> int | _Refused:
        # Length first: int() of thousands of digits is slow and raises past 4,300.
        if len(digits.lstrip("-")) > _EXACT_INTEGER_DIGITS or abs(int(digits)) > MAX_EXACT_INTEGER:
            return self._refuse(digits)
        return int(digits)

    def parse_float(self, number: str) -> float | _Refused:
        value = float(number)
        if not abs(value) <= MAX_EXACT_INTEGER:  # also infinities (1e400)
            return self._refuse(number)
        return value


def loads(text: str) -> Any:
    """Parse JSON text under the store's rules.

    Raises InvalidJson (located problems) for numbers outside the rule, strings that cannot be UTF-8 (lone
    surrogates) and bodies nesting deeper than MAX_BODY_NESTING; ValueError for text that is not JSON.
    """
    numbers = _NumberRule()
    try:
        value = json.loads(
            text, parse_int=numbers.parse_int, parse_float=numbers.parse_float, parse_constant=_constant
        )
    except RecursionError:
        raise InvalidJson([("", f"nests more than {MAX_BODY_NESTING} arrays and objects")]) from None
    if (too_deep := _first_below(value, MAX_BODY_NESTING)) is not None:
        raise InvalidJson([(too_deep, f"is nested more than {MAX_BODY_NESTING} arrays and objects deep")])
    problems = []
    if numbers.refused:
        problems += [
            (_pointer(path), node.reason) for path, node in _walk(value) if isinstance(node, _Refused)
        ]
    try:
        json.dumps(value, ensure_ascii=False, default=lambda _: None).encode()
    except UnicodeEncodeError:  # lone surrogates (e.g. "\ud800") parse but are not UTF-8
        problems += _surrogates(value)
    if problems:
        raise InvalidJson(sorted(problems))
    return value


def nesting(value: Any, *, beyond: int | None = None) -> int:
    """How many arrays and objects nest in value (0 for a scalar), counted without recursion; when
    `beyond` is given, counting stops once it is exceeded (the answer is then beyond + 1)."""
    level, depth = [value], 0
    while level := [v for v in level if isinstance(v, dict | list)]:
        depth += 1
        if beyond is not None and depth > beyond:
            break
        level = [child for v in level for child in (v.values() if isinstance(v, dict) else v)]
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


def _first_below(value: Any, levels: int) -> str | None:
    """The pointer of the first array or object nested deeper than `levels`, if any."""
    if nesting(value, beyond=levels) <= levels:
        return None
    return next(
        _pointer(path) for path, node in _walk(value) if isinstance(node, dict | list) and len(path) >= levels
    )


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
