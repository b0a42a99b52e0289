"""A stream's lifecycle operations: delete it, read and set its metadata (docs/design.md, "Lifecycle")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from eventstore import validation
from eventstore.api import requests
from eventstore.domain import InvalidRequest
from eventstore.http import Response, json_body
from eventstore.lifecycle import DeleteMode, StreamMetadata

if TYPE_CHECKING:
    from eventstore.api.requests import Telemetry
    from eventstore.http import Request
    from eventstore.store import EventStore


_DELETE_MODES: Final[dict[str, DeleteMode]] = {"soft": "soft", "tombstone": "tombstone"}


def delete_stream(store: EventStore, request: Request, telemetry: Telemetry) -> Response:
    """DELETE /streams/{streamType}/{streamId}: soft delete, or `mode=tombstone` for good."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request, "expected-revision", "mode")
    mode_text = request.query.get("mode", "soft")
    if (mode := _DELETE_MODES.get(mode_text)) is None:
        raise InvalidRequest.single("/query/mode", f"must be soft or tombstone, got {mode_text[:40]!r}")
    text = request.query.get("expected-revision")
    expected = (
        None if text is None else requests.integer(text, "/query/expected-revision", default=0, minimum=1)
    )
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
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
    return Response(200, {"metadata": metadata_json(store.get_metadata(stream_type, stream_id))})


def put_stream_metadata(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """PUT .../metadata: replace the lifecycle settings, compare-and-set on `expectedMetadataRevision`."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
    body = json_body(request)
    validation.validate("PutStreamMetadataRequest", body, "/body")

    def bound(name: str) -> int | None:
        value = body.get(name)
        return None if value is None else int(value)  # JSON Schema's integer admits 2.0

    metadata = StreamMetadata(bound("maxCount"), bound("maxAgeSeconds"), bound("truncateBefore"))
    stored = store.set_metadata(stream_type, stream_id, metadata, bound("expectedMetadataRevision"))
    return Response(200, {"metadata": metadata_json(stored)})
