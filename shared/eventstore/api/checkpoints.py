"""The consumers' checkpoints: read one, set one (compare-and-set)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventstore import validation
from eventstore.api import requests
from eventstore.domain import NOT_GIVEN, NotGiven
from eventstore.http import Response, json_body

if TYPE_CHECKING:
    from eventstore.api.requests import Telemetry
    from eventstore.checkpoints import Checkpoint
    from eventstore.http import Request
    from eventstore.store import FeedStore


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"name": checkpoint.name, "position": checkpoint.position, "updatedAt": checkpoint.updated_at}


def get_checkpoint(store: FeedStore, request: Request, _telemetry: Telemetry) -> Response:
    name = requests.path_param(request, "name", "CheckpointName")
    requests.only_query(request)
    return Response(200, {"checkpoint": checkpoint_json(store.get_checkpoint(name))})


def put_checkpoint(store: FeedStore, request: Request, _telemetry: Telemetry) -> Response:
    """PUT /checkpoints/{name}: compare-and-set on `expectedPosition` (absent: unconditional)."""
    name = requests.path_param(request, "name", "CheckpointName")
    requests.only_query(request)
    body = json_body(request)
    validation.validate("PutCheckpointRequest", body, "/body")
    expected: str | NotGiven | None = body.get("expectedPosition", NOT_GIVEN)
    checkpoint = store.put_checkpoint(name, body["position"], expected)
    return Response(200, {"checkpoint": checkpoint_json(checkpoint)})
