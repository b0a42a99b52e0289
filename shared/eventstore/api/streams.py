"""The streams' operations: create, append, read, describe and list streams."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from eventstore import payloads, timefmt, validation
from eventstore.api import requests
from eventstore.appends import AppendResult, NewEvent
from eventstore.domain import (
    ANY_REVISION,
    EventIdConflict,
    ExpectedRevision,
    InvalidRequest,
    RecordedEvent,
    StreamState,
    WrongExpectedRevision,
)
from eventstore.http import Response, json_body

if TYPE_CHECKING:
    from eventstore.api.requests import Telemetry
    from eventstore.http import Request
    from eventstore.store import EventStore


# Ids derived from client input (first event id, Idempotency-Key) are UUIDv5 in this namespace, so a
# retried request maps to the same stream and events.
_ID_NAMESPACE: Final = uuid.UUID("9b3d4f0e-5c2a-4c4e-9f39-6f1c2b7a8e11")
_WORST_GROWTH: Final = 5
"""More than how much larger a payload's text can get, rendered and escaped in a response, than it was in
the request body: a quote or backslash sent escaped (2 bytes) becomes 4, a number such as 9e15 is
rendered 9000000000000000.0 (4.5x); control characters arrive escaped already (6 bytes, 7 in the
response)."""
PAGE_KEY_ALIAS: Final = "nextPageKey"
PAGE_KEY_PARAM: Final = "/query/stream-next-page-key"
"""The name the store's page-key errors carry (pagekeys.PAGE_KEY_PARAM)."""
_PAGE_KEY_NAMES: Final = ("stream-next-page-key", PAGE_KEY_ALIAS)


def _page_key(request: Request) -> tuple[str | None, str]:
    """The listing's page key and the parameter that carried it. `nextPageKey` is an alias: the original
    service's Go client sends the key under that name (its own server ignored it and served page one
    again, forever)."""
    given = {name: request.query[name] for name in _PAGE_KEY_NAMES if request.query.get(name)}
    if len(set(given.values())) > 1:
        raise InvalidRequest.single(
            f"/query/{PAGE_KEY_ALIAS}", "differs from stream-next-page-key; send one of the two"
        )
    if not given:
        return None, PAGE_KEY_PARAM
    name, key = next(iter(given.items()))
    return key, f"/query/{name}"


def _events_at(body: Mapping[str, Any], name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The events of body member `name` (one event or a list), each with its JSON pointer."""
    value = body[name]
    if isinstance(value, list):
        return [(f"/body/{name}/{index}", event) for index, event in enumerate(value)]
    return [(f"/body/{name}", value)]


def _new_events(raw: Sequence[tuple[str, Mapping[str, Any]]], derive_id: str | None) -> list[NewEvent]:
    """Resolve event ids: the client's, else derived from the Idempotency-Key, else random."""
    events = []
    for index, (pointer, event) in enumerate(raw):
        for member in ("payload", "metadata"):
            validation.check_nesting(event.get(member), f"{pointer}/{member}")
        event_id = event.get("eventId")
        if event_id is None:
            event_id = str(uuid.uuid5(_ID_NAMESPACE, f"{derive_id}\n{index}") if derive_id else uuid.uuid4())
        events.append(
            NewEvent(
                event_id=event_id.lower(),
                event_type=event["eventType"],
                payload=event.get("payload"),
                metadata=dict(event.get("metadata") or {}),
                data_subject=event.get("dataSubject"),
            )
        )
    seen: set[str] = set()
    for (pointer, _), new_event in zip(raw, events, strict=True):
        if new_event.event_id in seen:
            raise InvalidRequest.single(f"{pointer}/eventId", "is used by an earlier event of this request")
        seen.add(new_event.event_id)
    return events


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 256:  # noqa: PLR2004 - documented in openapi.yaml
        raise InvalidRequest.single("/header/Idempotency-Key", "must be 1 to 256 characters")
    return key


def stream_json(stream: StreamState) -> dict[str, Any]:
    return {
        "streamId": stream.stream_id,
        "streamType": stream.stream_type,
        "revision": stream.revision,
        "updatedAt": stream.updated_at,
    }


def event_json(event: RecordedEvent) -> dict[str, Any]:
    rendered = {
        "streamId": event.stream_id,
        "revision": event.revision,
        "eventType": event.event_type,
        "payload": event.payload,
        "createdAt": event.created_at,
        "eventId": event.event_id,
        "metadata": event.metadata,
    }
    return rendered | requests.erasure_json(event.data_subject, payload_erased=event.payload_erased)


def _written(request: Request, result: AppendResult, telemetry: Telemetry, events: int) -> Response:
    stream = result.stream
    headers = {"Location": f"{request.base_path}/streams/{stream.stream_type}/{stream.stream_id}/details"}
    if result.replayed:
        headers["Idempotent-Replay"] = "true"
        telemetry.count("IdempotentReplays")
    else:
        telemetry.count("AppendsAccepted")
        telemetry.count("EventsAppended", events)
    if result.attempts > 1:
        telemetry.count("AppendRetries", result.attempts - 1)
    return Response(201, {"stream": stream_json(stream)}, headers)


def _check_readable(request: Request, events: Sequence[NewEvent]) -> None:
    """Every event must fit a read response alone (a page is never empty). A body this small cannot hold
    one that does not, however much its text grows when rendered and escaped."""
    if request.body is None or len(request.body) <= payloads.PAGE_BUDGET_BYTES // _WORST_GROWTH:
        return
    for event in events:
        payloads.check_readable(event.payload, event.metadata)


def create_stream(store: EventStore, request: Request, telemetry: Telemetry) -> Response:
    stream_type = requests.stream_type(request)
    requests.only_query(request)
    body = json_body(request)
    validation.validate("CreateStreamRequest", body, "/body")
    raw_events = _events_at(body, "events" if "events" in body else "initialEvent")
    key = _idempotency_key(request)
    first_event_id = raw_events[0][1].get("eventId")
    if "streamId" in body:
        stream_id = body["streamId"].lower()
    elif first_event_id is not None:
        stream_id = str(uuid.uuid5(_ID_NAMESPACE, f"{stream_type}\n{first_event_id.lower()}"))
    elif key is not None:
        stream_id = str(uuid.uuid5(_ID_NAMESPACE, f"{stream_type}\nkey\n{key}"))
    else:
        stream_id = str(uuid.uuid4())
    events = _new_events(raw_events, f"{stream_id}\n{key}" if key else None)
    _check_readable(request, events)
    result = store.create(stream_type, stream_id, events, request.caller)
    if not result.replayed:
        telemetry.count("StreamsCreated")
    return _written(request, result, telemetry, len(events))


def append_events(store: EventStore, request: Request, telemetry: Telemetry) -> Response:
    """POST .../events: a batch at the expected revision (or "any")."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
    body = json_body(request)
    validation.validate("AppendEventsRequest", body, "/body")
    raw_expected = body["expectedRevision"]
    # JSON Schema's integer admits 2.0; the store keys revisions as integers.
    expected: ExpectedRevision = ANY_REVISION if raw_expected == ANY_REVISION else int(raw_expected)
    raw_events = _events_at(body, "events")
    return _append(
        store, request, telemetry, stream=(stream_type, stream_id), raw_events=raw_events, expected=expected
    )


def append_event(store: EventStore, request: Request, telemetry: Telemetry) -> Response:
    """PUT .../events/{revision}: one event, at current + 1."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
    body = json_body(request)
    revision = requests.integer(request.path_params.get("revision"), "/path/revision", default=0, minimum=1)
    validation.validate("AppendEventRequest", body, "/body")
    raw_events, expected = _events_at(body, "event"), revision - 1
    return _append(
        store, request, telemetry, stream=(stream_type, stream_id), raw_events=raw_events, expected=expected
    )


def _append(
    store: EventStore,
    request: Request,
    telemetry: Telemetry,
    *,
    stream: tuple[str, str],
    raw_events: Sequence[tuple[str, Mapping[str, Any]]],
    expected: ExpectedRevision,
) -> Response:
    stream_type, stream_id = stream
    key = _idempotency_key(request)
    events = _new_events(raw_events, f"{stream_id}\n{expected}\n{key}" if key else None)
    _check_readable(request, events)
    try:
        result = store.append(stream_type, stream_id, expected, events, request.caller)
    except (WrongExpectedRevision, EventIdConflict):
        telemetry.count("AppendConflicts")
        raise
    return _written(request, result, telemetry, len(events))


def read_events(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET .../events: a page of events."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request, "after-revision", "limit")
    after = requests.integer(
        request.query.get("after-revision"), "/query/after-revision", default=0, minimum=0
    )
    page = store.read(stream_type, stream_id, after, requests.limit(request))
    return Response(
        200,
        {
            "eventPage": {
                "events": [event_json(e) for e in page.events],
                "hasMore": page.has_more,
                "lastEvaluatedRevision": page.last_evaluated_revision,
                "firstRevision": page.first_revision,
            }
        },
    )


def describe_stream(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET .../details: the stream."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
    return Response(200, {"stream": stream_json(store.describe(stream_type, stream_id))})


def list_streams(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    stream_type = requests.stream_type(request)
    requests.only_query(request, "updated-after", *_PAGE_KEY_NAMES, "limit")
    updated_after = None
    if (text := request.query.get("updated-after")) is not None:
        try:
            updated_after = timefmt.parse(text)
        except ValueError as exc:
            raise InvalidRequest.single("/query/updated-after", str(exc)) from exc
    page_key, sent_as = _page_key(request)
    try:
        page = store.list_streams(stream_type, updated_after, requests.limit(request), page_key)
    except InvalidRequest as exc:
        # Name the parameter the client sent: the original Go client sends only the alias.
        if sent_as == PAGE_KEY_PARAM:
            raise
        renamed = [replace(p, name=sent_as) if p.name == PAGE_KEY_PARAM else p for p in exc.params]
        raise InvalidRequest(renamed) from exc
    body: dict[str, Any] = {"streams": [stream_json(s) for s in page.streams], "hasMore": page.has_more}
    if page.next_page_key is not None:
        body["nextPageKey"] = page.next_page_key
    if page.settled_until is not None:
        body["settledUntil"] = page.settled_until
    return Response(200, {"streamPage": body})
