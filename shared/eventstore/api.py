"""The API's operations: parse a Request, call the store, render a Response. One function per operation
(the operationIds of openapi.yaml, named by the routes in routes.json); none looks at the method or path."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from eventstore import jsontext, payloads, timefmt, validation
from eventstore.domain import (
    ANY_REVISION,
    NOT_GIVEN,
    AppendResult,
    Checkpoint,
    DataSubjectState,
    EventIdConflict,
    ExpectedRevision,
    FeedEvent,
    InvalidParam,
    InvalidRequest,
    NewEvent,
    NewSnapshot,
    NotGiven,
    RecordedEvent,
    Snapshot,
    StreamState,
    WrongExpectedRevision,
)
from eventstore.feeds import MAX_GROUP_SIZE, MAX_STREAM_TYPES_PAGE
from eventstore.http import Request, Response, json_body
from eventstore.lifecycle import DeleteMode, StreamMetadata
from eventstore.store import EventStore, FeedStore, SnapshotStore

# Ids derived from client input (first event id, Idempotency-Key) are UUIDv5 in this namespace, so a
# retried request maps to the same stream and events.
_ID_NAMESPACE: Final = uuid.UUID("9b3d4f0e-5c2a-4c4e-9f39-6f1c2b7a8e11")
DEFAULT_PAGE_LIMIT: Final = 100
MAX_REVISION: Final = jsontext.MAX_EXACT_INTEGER
"""Revisions are exact in every JSON parser (JSON numbers are doubles), as in openapi.yaml."""
_MAX_INTEGER_TEXT: Final = 32
_WORST_GROWTH: Final = 5
"""More than how much larger a payload's text can get, rendered and escaped in a response, than it was in
the request body: a quote or backslash sent escaped (2 bytes) becomes 4, a number such as 9e15 is
rendered 9000000000000000.0 (4.5x); control characters arrive escaped already (6 bytes, 7 in the
response)."""
"""Longer texts are refused before int() reads them (leading zeros aside, anything longer is too big)."""
MAX_PAGE_LIMIT: Final = 1000
PAGE_KEY_ALIAS: Final = "nextPageKey"
PAGE_KEY_PARAM: Final = "/query/stream-next-page-key"
"""The name the store's page-key errors carry (pagekeys.PAGE_KEY_PARAM)."""
_PAGE_KEY_NAMES: Final = ("stream-next-page-key", PAGE_KEY_ALIAS)


class Telemetry(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...


# Path and query parameters ------------------------------------------------------------------------


def _path_param(request: Request, name: str, schema: str) -> str:
    value = request.path_params.get(name)
    if value is None:
        raise InvalidRequest.single(f"/path/{name}", "is required")
    validation.validate(schema, value, f"/path/{name}")
    return value


def _stream_type(request: Request) -> str:
    return _path_param(request, "streamType", "TypeName")


def _stream_id(request: Request) -> str:
    return _path_param(request, "streamId", "StreamId").lower()


def _integer(text: str | None, name: str, *, default: int, minimum: int, maximum: int = MAX_REVISION) -> int:
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


def _only_query(request: Request, *names: str) -> None:
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


def _limit(request: Request) -> int:
    return _integer(
        request.query.get("limit"),
        "/query/limit",
        default=DEFAULT_PAGE_LIMIT,
        minimum=1,
        maximum=MAX_PAGE_LIMIT,
    )


# Events in ----------------------------------------------------------------------------------------


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


# Out ----------------------------------------------------------------------------------------------


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
    return rendered | _erasure_json(event.data_subject, payload_erased=event.payload_erased)


def data_subject_json(state: DataSubjectState) -> dict[str, Any]:
    return {"dataSubject": state.data_subject, "state": state.state, "erasedAt": state.erased_at}


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


# Operations ---------------------------------------------------------------------------------------


def _check_readable(request: Request, events: Sequence[NewEvent]) -> None:
    """Every event must fit a read response alone (a page is never empty). A body this small cannot hold
    one that does not, however much its text grows when rendered and escaped."""
    if request.body is None or len(request.body) <= payloads.PAGE_BUDGET_BYTES // _WORST_GROWTH:
        return
    for event in events:
        payloads.check_readable(event.payload, event.metadata)


def create_stream(store: EventStore, request: Request, telemetry: Telemetry) -> Response:
    stream_type = _stream_type(request)
    _only_query(request)
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
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
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
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
    body = json_body(request)
    revision = _integer(request.path_params.get("revision"), "/path/revision", default=0, minimum=1)
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
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request, "after-revision", "limit")
    after = _integer(request.query.get("after-revision"), "/query/after-revision", default=0, minimum=0)
    page = store.read(stream_type, stream_id, after, _limit(request))
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
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
    return Response(200, {"stream": stream_json(store.describe(stream_type, stream_id))})


_DELETE_MODES: Final[dict[str, DeleteMode]] = {"soft": "soft", "tombstone": "tombstone"}


def delete_stream(store: EventStore, request: Request, telemetry: Telemetry) -> Response:
    """DELETE /streams/{streamType}/{streamId}: soft delete, or `mode=tombstone` for good."""
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request, "expected-revision", "mode")
    mode_text = request.query.get("mode", "soft")
    if (mode := _DELETE_MODES.get(mode_text)) is None:
        raise InvalidRequest.single("/query/mode", f"must be soft or tombstone, got {mode_text[:40]!r}")
    text = request.query.get("expected-revision")
    expected = None if text is None else _integer(text, "/query/expected-revision", default=0, minimum=1)
    store.delete(stream_type, stream_id, expected, mode)
    telemetry.count("StreamsDeleted")
    return Response(204, None)


def metadata_json(metadata: StreamMetadata) -> dict[str, Any]:
    return {
        "maxCount": metadata.max_count,
        "maxAgeSeconds": metadata.max_age_seconds,
        "truncateBefore": metadata.truncate_before,
        "metadataRevision": metadata.revision,
    }


def get_stream_metadata(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
    return Response(200, {"metadata": metadata_json(store.get_metadata(stream_type, stream_id))})


def put_stream_metadata(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """PUT .../metadata: replace the lifecycle settings, compare-and-set on `expectedMetadataRevision`."""
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
    body = json_body(request)
    validation.validate("PutStreamMetadataRequest", body, "/body")

    def bound(name: str) -> int | None:
        value = body.get(name)
        return None if value is None else int(value)  # JSON Schema's integer admits 2.0

    metadata = StreamMetadata(bound("maxCount"), bound("maxAgeSeconds"), bound("truncateBefore"))
    stored = store.set_metadata(stream_type, stream_id, metadata, bound("expectedMetadataRevision"))
    return Response(200, {"metadata": metadata_json(stored)})


def list_streams(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    stream_type = _stream_type(request)
    _only_query(request, "updated-after", *_PAGE_KEY_NAMES, "limit")
    updated_after = None
    if (text := request.query.get("updated-after")) is not None:
        try:
            updated_after = timefmt.parse(text)
        except ValueError as exc:
            raise InvalidRequest.single("/query/updated-after", str(exc)) from exc
    page_key, sent_as = _page_key(request)
    try:
        page = store.list_streams(stream_type, updated_after, _limit(request), page_key)
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


def _data_subject(request: Request) -> str:
    return _path_param(request, "dataSubject", "DataSubject")


def erase_data_subject(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """DELETE /data-subjects/{dataSubject}: destroy the subject's key (204, also when repeated)."""
    data_subject = _data_subject(request)
    _only_query(request)
    store.erase_data_subject(data_subject, request.caller)
    return Response(204, None)


def describe_data_subject(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET /data-subjects/{dataSubject}: active or erased (404 never seen)."""
    data_subject = _data_subject(request)
    _only_query(request)
    return Response(200, data_subject_json(store.data_subject(data_subject)))


# Feeds and checkpoints ----------------------------------------------------------------------------

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
    size = _integer(size_text, _SIZE_PARAM, default=1, minimum=1, maximum=MAX_GROUP_SIZE)
    member = _integer(member_text, _MEMBER_PARAM, default=0, minimum=0, maximum=MAX_GROUP_SIZE - 1)
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
    return rendered | _erasure_json(event.data_subject, payload_erased=event.payload_erased)


def _erasure_json(data_subject: str | None, *, payload_erased: bool) -> dict[str, Any]:
    """What reads and feeds add to an event of a data subject (openapi.yaml: Event, FeedEvent)."""
    added: dict[str, Any] = {}
    if data_subject is not None:
        added["dataSubject"] = data_subject
    if payload_erased:
        added["payloadErased"] = True
    return added


def _feed(store: FeedStore, request: Request, telemetry: Telemetry, stream_type: str | None) -> Response:
    _only_query(request, *_FEED_QUERY)
    after = request.query.get("after-position")
    if after is not None:
        validation.validate("Position", after, "/query/after-position")
    event_types = _event_types(request)
    member, size = _consumer_group(request)
    page = store.read_feed(
        stream_type, after, _limit(request), event_types=event_types, member=member, size=size
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
    return _feed(store, request, telemetry, _stream_type(request))


def list_stream_types(store: FeedStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET /stream-types: the types that have streams, from the registry the feed writer keeps."""
    _only_query(request, "after-stream-type", "limit")
    after = request.query.get("after-stream-type")
    if after is not None:
        validation.validate("TypeName", after, "/query/after-stream-type")
    limit = _integer(
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


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"name": checkpoint.name, "position": checkpoint.position, "updatedAt": checkpoint.updated_at}


def get_checkpoint(store: FeedStore, request: Request, _telemetry: Telemetry) -> Response:
    name = _path_param(request, "name", "CheckpointName")
    _only_query(request)
    return Response(200, {"checkpoint": checkpoint_json(store.get_checkpoint(name))})


def put_checkpoint(store: FeedStore, request: Request, _telemetry: Telemetry) -> Response:
    """PUT /checkpoints/{name}: compare-and-set on `expectedPosition` (absent: unconditional)."""
    name = _path_param(request, "name", "CheckpointName")
    _only_query(request)
    body = json_body(request)
    validation.validate("PutCheckpointRequest", body, "/body")
    expected: str | NotGiven | None = body.get("expectedPosition", NOT_GIVEN)
    checkpoint = store.put_checkpoint(name, body["position"], expected)
    return Response(200, {"checkpoint": checkpoint_json(checkpoint)})


# Snapshots -------------------------------------------------------------------------------------------


def snapshot_json(snapshot: Snapshot, *, with_state: bool = True) -> dict[str, Any]:
    rendered: dict[str, Any] = {"revision": snapshot.revision, "snapshotType": snapshot.snapshot_type}
    if with_state:
        rendered["state"] = snapshot.state
    rendered["createdAt"] = snapshot.created_at
    if snapshot.data_subject is not None:
        rendered["dataSubject"] = snapshot.data_subject
    if snapshot.state_erased:
        rendered["stateErased"] = True
    return rendered


def get_snapshot(store: SnapshotStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET .../snapshot: the stream's snapshot (404 snapshot-not-found)."""
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
    return Response(200, {"snapshot": snapshot_json(store.get_snapshot(stream_type, stream_id))})


def put_snapshot(store: SnapshotStore, request: Request, telemetry: Telemetry) -> Response:
    """PUT .../snapshot: store the stream's snapshot unless it keeps a newer one."""
    stream_type, stream_id = _stream_type(request), _stream_id(request)
    _only_query(request)
    body = json_body(request)
    validation.validate("PutSnapshotRequest", body, "/body")
    validation.check_nesting(body["state"], "/body/state")
    snapshot = NewSnapshot(
        # JSON Schema's integer admits 2.0; the store keys revisions as integers.
        revision=int(body["revision"]),
        snapshot_type=body["snapshotType"],
        state=body["state"],
        data_subject=body.get("dataSubject"),
    )
    written = store.put_snapshot(stream_type, stream_id, snapshot)
    headers = {"Location": f"{request.base_path}/streams/{stream_type}/{stream_id}/snapshot"}
    if written.replayed:
        headers["Idempotent-Replay"] = "true"
    else:
        telemetry.count("SnapshotsWritten")
    return Response(201, {"snapshot": snapshot_json(written.snapshot, with_state=False)}, headers)


def liveness_check(_request: Request) -> Response:
    return Response(200, {"status": "ok", "at": timefmt.format_instant(datetime.now(UTC))})


__all__ = [
    "ANY_REVISION",
    "append_event",
    "append_events",
    "create_stream",
    "delete_stream",
    "describe_data_subject",
    "describe_stream",
    "erase_data_subject",
    "get_checkpoint",
    "get_snapshot",
    "get_stream_metadata",
    "list_stream_types",
    "list_streams",
    "liveness_check",
    "put_checkpoint",
    "put_snapshot",
    "put_stream_metadata",
    "read_events",
    "read_feed",
    "read_type_feed",
]
