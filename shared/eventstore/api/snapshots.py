"""The streams' snapshots: read one, store one (docs/design.md, "Snapshots")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventstore import validation
from eventstore.api import requests
from eventstore.http import Response, json_body
from eventstore.snapshots import NewSnapshot

if TYPE_CHECKING:
    from eventstore.api.requests import Telemetry
    from eventstore.http import Request
    from eventstore.snapshots import Snapshot
    from eventstore.store import SnapshotStore


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
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
    return Response(200, {"snapshot": snapshot_json(store.get_snapshot(stream_type, stream_id))})


def put_snapshot(store: SnapshotStore, request: Request, telemetry: Telemetry) -> Response:
    """PUT .../snapshot: store the stream's snapshot unless it keeps a newer one."""
    stream_type, stream_id = requests.stream_type(request), requests.stream_id(request)
    requests.only_query(request)
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
