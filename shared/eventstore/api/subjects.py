"""The data subjects' operations: erase one, describe one (docs/design.md, "Erasure")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventstore.api import requests
from eventstore.http import Response

if TYPE_CHECKING:
    from eventstore.api.requests import Telemetry
    from eventstore.erasure import DataSubjectState
    from eventstore.http import Request
    from eventstore.store import EventStore


def _data_subject(request: Request) -> str:
    return requests.path_param(request, "dataSubject", "DataSubject")


def erase_data_subject(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """DELETE /data-subjects/{dataSubject}: destroy the subject's key (204, also when repeated)."""
    data_subject = _data_subject(request)
    requests.only_query(request)
    store.erase_data_subject(data_subject, request.caller)
    return Response(204, None)


def describe_data_subject(store: EventStore, request: Request, _telemetry: Telemetry) -> Response:
    """GET /data-subjects/{dataSubject}: active or erased (404 never seen)."""
    data_subject = _data_subject(request)
    requests.only_query(request)
    return Response(200, data_subject_json(store.data_subject(data_subject)))


def data_subject_json(state: DataSubjectState) -> dict[str, Any]:
    return {"dataSubject": state.data_subject, "state": state.state, "erasedAt": state.erased_at}
