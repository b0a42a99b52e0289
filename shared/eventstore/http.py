"""API Gateway REST proxy events in, proxy responses out: the request's route picks the operation by name
(eventstore.routes); domain errors → RFC 9457 problem+json."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from eventstore import jsontext, routes
from eventstore.domain import (
    MAX_REQUEST_BODY_BYTES,
    BadPosition,
    Caller,
    CheckpointConflict,
    CheckpointNotFound,
    DataSubjectErased,
    DataSubjectNotFound,
    EventIdConflict,
    EventStoreError,
    InvalidParam,
    InvalidRequest,
    MetadataConflict,
    PayloadTooLarge,
    ServiceUnavailable,
    SnapshotBeyondStream,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotTooLarge,
    StoredPayloadCorrupt,
    StreamAlreadyExists,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedRevision,
)
from eventstore.observability import logger

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
PROBLEM_TYPE_PREFIX: Final = "urn:eventstore:problem:"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    resource: str
    operation: str | None
    """The operation the route names (routes.json); None when no route has this method and resource."""

    path: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    """A repeated parameter's last value (as API Gateway's queryStringParameters)."""
    multi_query: Mapping[str, Sequence[str]]
    """Every value of each parameter, in order."""
    headers: Mapping[str, str]
    """Lower-cased names."""

    body: str | None
    caller: Caller
    base_path: str
    """The stage prefix API Gateway adds in front of the resource path ("" when none)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def parse_request(event: Mapping[str, Any]) -> Request:
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidRequest.single("/body", "the body is not UTF-8 text") from exc
    path = event.get("path") or ""
    full_path = context.get("path") or path
    base_path = full_path[: -len(path)] if path and full_path.endswith(path) else ""
    method, resource = event.get("httpMethod", ""), event.get("resource", "")
    return Request(
        method=method,
        resource=resource,
        operation=routes.operation_of(method, resource),
        path=path,
        path_params=event.get("pathParameters") or {},
        query=event.get("queryStringParameters") or {},
        multi_query=event.get("multiValueQueryStringParameters") or {},
        headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
        body=body,
        caller=Caller(
            principal=identity.get("userArn") or identity.get("caller"),
            request_id=context.get("requestId"),
        ),
        base_path=base_path,
    )


def json_body(request: Request) -> Any:
    """The body's JSON value, under the store's rules for numbers and nesting (eventstore.jsontext)."""
    if request.body is None or not request.body.strip():
        raise InvalidRequest.single("/body", "a JSON body is required")
    check_body_size(request.body)
    try:
        return jsontext.loads(request.body)
    except jsontext.InvalidJson as exc:
        raise InvalidRequest(
            [InvalidParam("/body" + pointer, reason) for pointer, reason in exc.problems]
        ) from exc
    except ValueError as exc:
        raise InvalidRequest.single("/body", f"the body is not valid JSON: {exc}") from exc


def check_body_size(body: str) -> None:
    """413 beyond the documented request limit (docs/design.md, "Large payloads")."""
    # A character is 1-4 bytes in UTF-8: most bodies are decided without encoding them.
    if len(body) <= MAX_REQUEST_BODY_BYTES // 4:
        return
    size = len(body.encode())
    if size > MAX_REQUEST_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body is {size} bytes; the limit is {MAX_REQUEST_BODY_BYTES} bytes (5 MiB)"
        )


# One table maps each domain error to its HTTP status, problem type and title.
_PROBLEMS: Final[dict[type[EventStoreError], tuple[int, str, str]]] = {
    BadPosition: (400, "invalid-request", "The request is invalid"),
    InvalidRequest: (400, "invalid-request", "The request is invalid"),
    StreamNotFound: (404, "stream-not-found", "No such stream"),
    StreamDeleted: (410, "stream-deleted", "The stream was deleted for good"),
    MetadataConflict: (409, "metadata-conflict", "The stream metadata is not at the expected revision"),
    CheckpointNotFound: (404, "checkpoint-not-found", "No such checkpoint"),
    CheckpointConflict: (409, "checkpoint-conflict", "The checkpoint is not at the expected position"),
    DataSubjectNotFound: (404, "data-subject-not-found", "No such data subject"),
    DataSubjectErased: (410, "data-subject-erased", "The data subject was erased"),
    WrongExpectedRevision: (409, "wrong-expected-revision", "The stream is not at the expected revision"),
    StreamAlreadyExists: (409, "stream-already-exists", "The stream already exists"),
    SnapshotNotFound: (404, "snapshot-not-found", "The stream has no snapshot"),
    SnapshotConflict: (409, "snapshot-conflict", "The stream keeps a newer or another snapshot"),
    SnapshotBeyondStream: (409, "snapshot-beyond-revision", "The stream has not reached the revision"),
    SnapshotTooLarge: (413, "payload-too-large", "The snapshot is too large for one item"),
    PayloadTooLarge: (413, "payload-too-large", "The events are too large for one append"),
    StoredPayloadCorrupt: (500, "internal-error", "A stored payload failed its integrity check"),
    EventIdConflict: (422, "event-id-conflict", "The event ids were used for other events"),
    ServiceUnavailable: (503, "service-unavailable", "The store is temporarily unavailable"),
}


def problem(error: EventStoreError, request: Request | None = None) -> Response:
    status, slug, title = next(v for kind, v in _PROBLEMS.items() if isinstance(error, kind))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": str(error),
    }
    if request is not None:
        body["instance"] = request.base_path + request.path
    headers: dict[str, str] = {}
    match error:
        case InvalidRequest(params=params):
            body["invalid-params"] = [_param(p) for p in params]
        case (
            WrongExpectedRevision(current=current)
            | StreamAlreadyExists(current=int() as current)
            | SnapshotBeyondStream(current=current)
        ):
            body["currentRevision"] = current
        case SnapshotConflict(stored=stored_revision):
            body["storedRevision"] = stored_revision
        case CheckpointConflict(stored=stored):
            body["storedPosition"] = stored
        case MetadataConflict(current=current):
            body["currentMetadataRevision"] = current
        case ServiceUnavailable(retry_after_seconds=seconds):
            headers["Retry-After"] = str(seconds)
        case _:
            pass
    return Response(status, body, headers, PROBLEM_CONTENT_TYPE)


def _param(param: InvalidParam) -> dict[str, str]:
    return {"name": param.name, "reason": param.reason}


def internal_error(request: Request | None) -> Response:
    body = {
        "type": PROBLEM_TYPE_PREFIX + "internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "the request failed unexpectedly; nothing partial was written",
    }
    if request is not None:
        body["instance"] = request.base_path + request.path
    return Response(500, body, {}, PROBLEM_CONTENT_TYPE)


def to_proxy(response: Response) -> dict[str, Any]:
    if response.body is None:  # 204
        return {
            "statusCode": response.status,
            "headers": dict(response.headers),
            "body": "",
            "isBase64Encoded": False,
        }
    return {
        "statusCode": response.status,
        "headers": {"Content-Type": response.content_type, **response.headers},
        # Never fails on depth: events stored before the nesting limit existed must stay readable.
        "body": jsontext.dumps(response.body),
        "isBase64Encoded": False,
    }


class UnservedRoute(LookupError):
    """API Gateway sent a route this function has no operation for: a deployment fault, not the caller's."""


def _operation(
    operations: Mapping[str, Callable[[Request], Response]], request: Request
) -> Callable[[Request], Response]:
    operation = operations.get(request.operation) if request.operation is not None else None
    if operation is None:
        raise UnservedRoute(f"{request.method} {request.resource} (operation {request.operation})")
    return operation


def handle(
    event: Mapping[str, Any], operations: Mapping[str, Callable[[Request], Response]]
) -> dict[str, Any]:
    """Parse → run the operation the route names → render, with every failure (rendering included) rendered
    as problem+json."""
    request: Request | None = None
    try:
        request = parse_request(event)
        return to_proxy(_operation(operations, request)(request))
    except EventStoreError as error:
        if isinstance(error, StoredPayloadCorrupt):
            # Never served, and someone must look: the object was changed, lost or mis-written.
            logger.error("stored payload failed its check", extra={"reason": str(error)})  # noqa: TRY400
        return to_proxy(problem(error, request))
    except Exception:
        logger.exception("unhandled error")
        return to_proxy(internal_error(request))
