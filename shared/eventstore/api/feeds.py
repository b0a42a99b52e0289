"""The feeds' operations: read the feed of all stream types or of one, list the stream types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from eventstore import validation
from eventstore.api import requests
from eventstore.domain import InvalidRequest
from eventstore.feedreads import MAX_GROUP_SIZE, MAX_STREAM_TYPES_PAGE
from eventstore.http import Response

if TYPE_CHECKING:
    from eventstore.api.requests import Telemetry
    from eventstore.feedreads import FeedEvent
    from eventstore.http import Request
    from eventstore.store import FeedStore


_FEED_QUERY: Final = ("after-position", "limit", "event-type", "consumer-group-member", "consumer-group-size")
_MAX_EVENT_TYPES: Final = 100
_MEMBER_PARAM: Final = "/query/consumer-group-member"
_SIZE_PARAM: Final = "/query/consumer-group-size"


def _event_types(request: Request) -> frozenset[str] | None:
    values = request.multi_query.get("event-type") or (
        [request.query["event-type"]] if "event-type" in request.query else []
    )
    if not values:
        return None
    if len(values) > _MAX_EVENT_TYPES:
        raise InvalidRequest.single("/query/event-type", f"at most {_MAX_EVENT_TYPES} event types")
    for index, value in enumerate(values):
        validation.validate("TypeName", value, f"/query/event-type/{index}")
    return frozenset(values)


def _consumer_group(request: Request) -> tuple[int | None, int | None]:
    """Member i of n (0 <= i < n <= 64), both or neither."""
    member_text = request.query.get("consumer-group-member")
    size_text = request.query.get("consumer-group-size")
    if (member_text is None) != (size_text is None):
        missing = _SIZE_PARAM if size_text is None else _MEMBER_PARAM
        raise InvalidRequest.single(missing, "consumer-group-member and consumer-group-size go together")
    if member_text is None or size_text is None:
        return None, None
    size = requests.integer(size_text, _SIZE_PARAM, default=1, minimum=1, maximum=MAX_GROUP_SIZE)
    member = requests.integer(member_text, _MEMBER_PARAM, default=0, minimum=0, maximum=MAX_GROUP_SIZE - 1)
    if member >= size:
        raise InvalidRequest.single(_MEMBER_PARAM, f"must be below consumer-group-size {size}, got {member}")
    return member, size


def feed_event_json(event: FeedEvent) -> dict[str, Any]:
    rendered = {
        "position": event.position,
        "streamId": event.stream_id,
        "streamType": event.stream_type,
        "revision": event.revision,
        "eventId": event.event_id,
        "eventType": event.event_type,
        "payload": event.payload,
        "metadata": event.metadata,
        "createdAt": event.created_at,
    }
    return rendered | requests.erasure_json(event.data_subject, payload_erased=event.payload_erased)


def _feed(store: FeedStore, request: Request, telemetry: Telemetry, stream_type: str | None) -> Response:
    requests.only_query(request, *_FEED_QUERY)
    after = request.query.get("after-position")
    if after is not None:
        validation.validate("Position", after, "/query/after-position")
    event_types = _event_types(request)
    member, size = _consumer_group(request)
    page = store.read_feed(
        stream_type, after, requests.limit(request), event_types=event_types, member=member, size=size
    )
    telemetry.count("FeedEventsRead", len(page.events))
    body: dict[str, Any] = {"events": [feed_event_json(e) for e in page.events], "hasMore": page.has_more}
    if page.last_position is not None:
        body["lastPosition"] = page.last_position
    return Response(200, {"feedPage": body})


def read_feed(store: FeedStore, request: Request, telemetry: Telemetry) -> Response:
    """GET /feed: every event of every stream type, in feed order."""
    return _feed(store, request, telemetry, None)


def read_type_feed(store: FeedStore, request: Request, telemetry: Telemetry) -> Response:
    """GET /streams/{streamType}/feed: every event of the type's streams, in feed order."""
    return _feed(store, request, telemetry, requests.stream_type(request))


def list_stream_types(store: FeedStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET /stream-types: the types that have streams, from the registry the feed writer keeps."""
    requests.only_query(request, "after-stream-type", "limit")
    after = request.query.get("after-stream-type")
    if after is not None:
        validation.validate("TypeName", after, "/query/after-stream-type")
    limit = requests.integer(
        request.query.get("limit"),
        "/query/limit",
        default=MAX_STREAM_TYPES_PAGE,
        minimum=1,
        maximum=MAX_STREAM_TYPES_PAGE,
    )
    page = store.stream_types(after, limit)
    body: dict[str, Any] = {
        "streamTypes": [
            {"streamType": t.stream_type, "firstSeenAt": t.first_seen_at} for t in page.stream_types
        ],
        "hasMore": page.has_more,
    }
    if page.last_stream_type is not None:
        body["lastStreamType"] = page.last_stream_type
    return Response(200, {"streamTypePage": body})
