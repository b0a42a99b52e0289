"""What every operation shares: its Telemetry, and the path and query parameters it reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

from eventstore import jsontext, validation
from eventstore.domain import InvalidParam, InvalidRequest

if TYPE_CHECKING:
    from eventstore.http import Request


MAX_REVISION: Final = jsontext.MAX_EXACT_INTEGER
"""Revisions are exact in every JSON parser (JSON numbers are doubles), as in openapi.yaml."""
_MAX_INTEGER_TEXT: Final = 32
"""Longer texts are refused before int() reads them (leading zeros aside, anything longer is too big)."""
DEFAULT_PAGE_LIMIT: Final = 100
MAX_PAGE_LIMIT: Final = 1000


class Telemetry(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


def path_param(request: Request, name: str, schema: str) -> str:
    value = request.path_params.get(name)
    if value is None:
        raise InvalidRequest.single(f"/path/{name}", "is required")
    validation.validate(schema, value, f"/path/{name}")
    return value


def stream_type(request: Request) -> str:
    return path_param(request, "streamType", "TypeName")


def stream_id(request: Request) -> str:
    return path_param(request, "streamId", "StreamId").lower()


def integer(text: str | None, name: str, *, default: int, minimum: int, maximum: int = MAX_REVISION) -> int:
    if text is None:
        return default
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_INTEGER_TEXT:
        raise InvalidRequest.single(
            name, f"must be a whole number between {minimum} and {maximum}, got {text[:40]!r}"
        )
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidRequest.single(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def only_query(request: Request, *names: str) -> None:
    """Refuse query parameters the route does not have: a misspelt `after_revision` would otherwise read
    from the start, unnoticed."""
    if unknown := sorted(set(request.query) - set(names)):
        raise InvalidRequest(
            [
                InvalidParam(
                    f"/query/{_escape(name)}",
                    f"is not a parameter of this route ({', '.join(names) or 'it has none'})",
                )
                for name in unknown
            ]
        )


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def limit(request: Request) -> int:
    return integer(
        request.query.get("limit"),
        "/query/limit",
        default=DEFAULT_PAGE_LIMIT,
        minimum=1,
        maximum=MAX_PAGE_LIMIT,
    )


def erasure_json(data_subject: str | None, *, payload_erased: bool) -> dict[str, Any]:
    """What reads and feeds add to an event of a data subject (openapi.yaml: Event, FeedEvent)."""
    added: dict[str, Any] = {}
    if data_subject is not None:
        added["dataSubject"] = data_subject
    if payload_erased:
        added["payloadErased"] = True
    return added
