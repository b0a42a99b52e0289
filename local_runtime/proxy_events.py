"""API Gateway REST API with Lambda proxy integration: routes, the format 1.0 event, response mapping, and
the error responses API Gateway answers with itself. The HTTP server using them is `gateway_server`."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from local_runtime.lambdas import ACCOUNT_ID

if TYPE_CHECKING:
    from pathlib import Path

    from local_runtime.sigv4 import Identity

STAGE = "local"
API_ID = "local"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    resource: str
    """The resource path with {placeholders}, as API Gateway names it."""
    function: str
    """The function it invokes: its folder name (routes.json) or, from Terraform, its ARN."""
    pattern: re.Pattern[str] = field(compare=False)
    require_iam: bool = False
    """The method's authorization is AWS_IAM (unsigned requests get 403 whatever --require-iam says)."""


def load_routes(routes_file: Path) -> list[Route]:
    """routes.json → routes, literal segments matched before {parameters} (API Gateway's precedence)."""
    document = json.loads(routes_file.read_text())
    return sort_routes(
        Route(
            method=r["method"],
            resource=r["path"],
            function=r["function"],
            pattern=compile_resource(r["path"]),
        )
        for r in document["routes"]
    )


def sort_routes(routes: Iterable[Route]) -> list[Route]:
    """Literal segments before {parameters}: API Gateway's precedence."""
    return sorted(routes, key=lambda r: [seg.startswith("{") for seg in r.resource.split("/")])


def compile_resource(resource: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
    return re.compile(f"^{regex}$")


def match_route(routes: Sequence[Route], method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """API Gateway's resource tree: segment by segment, a literal child wins over a {parameter} sibling
    and is never backtracked from (`/streams/t/feed/events` is no route, although `{streamId}/events`
    would fit), and then the resource must have the method."""
    resource = _resource_of(routes, raw_path)
    for route in routes:
        if route.method != method or route.resource != resource:
            continue
        found = route.pattern.match(raw_path)
        if found is not None:
            return route, {name: unquote(value) for name, value in found.groupdict().items()}
    return None


def _resource_of(routes: Sequence[Route], raw_path: str) -> str | None:
    segments = raw_path.strip("/").split("/") if raw_path.strip("/") else []
    if not raw_path.startswith("/") or any(not segment for segment in segments):
        return None
    trees = [route.resource.strip("/").split("/") for route in routes]
    chosen: list[str] = []
    for depth, segment in enumerate(segments):
        children = {tree[depth] for tree in trees if len(tree) > depth and tree[:depth] == chosen}
        if segment in children:
            chosen.append(segment)
        elif parameters := sorted(child for child in children if child.startswith("{")):
            chosen.append(parameters[0])
        else:
            return None
    return "/" + "/".join(chosen)


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    method: str
    raw_path: str
    """As sent, still percent-encoded."""
    raw_query: str
    headers: Sequence[tuple[str, str]]
    """In arrival order, names as sent; a repeated header appears more than once."""
    query: Sequence[tuple[str, str]]
    """Decoded names and values, in order."""
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def build_event(
    request: IncomingRequest,
    route: Route,
    path_parameters: Mapping[str, str],
    *,
    identity: Identity | None,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The Lambda proxy integration's input, format 1.0, as API Gateway's REST API sends it."""
    epoch = time.time() if now is None else now
    headers, multi_headers = _single_and_multi(request.headers)
    query, multi_query = _single_and_multi(request.query)
    lowered = {name.lower(): value for name, value in headers.items()}
    user_agent = lowered.get("user-agent")
    body, is_base64 = _event_body(request.body)
    return {
        "resource": route.resource,
        "path": unquote(request.raw_path),
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": _resource_id(route.resource),
            "resourcePath": route.resource,
            "httpMethod": request.method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch)),
            # The API is served like a custom domain (no stage in the URL), so this is the path as sent.
            "path": unquote(request.raw_path),
            "accountId": ACCOUNT_ID,
            "protocol": request.protocol,
            "stage": STAGE,
            "domainPrefix": lowered.get("host", "localhost").split(".")[0],
            "requestTimeEpoch": int(epoch * 1000),
            "requestId": request_id,
            "identity": _identity(identity, request.source_ip, user_agent),
            "domainName": lowered.get("host", "localhost"),
            "deploymentId": API_ID,
            "apiId": API_ID,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _single_and_multi(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    # API Gateway keeps the last value of a repeated name in the single-value map.
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _event_body(body: bytes) -> tuple[str | None, bool]:
    # No binary media types are configured: text passes as is; bytes that are not UTF-8 go base64-encoded.
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _resource_id(resource: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, resource).hex[:6]


def _identity(identity: Identity | None, source_ip: str, user_agent: str | None) -> dict[str, Any]:
    return {
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "principalOrgId": None,
        "apiKey": None,
        "apiKeyId": None,
        "accountId": ACCOUNT_ID if identity else None,
        "caller": identity.caller if identity else None,
        "user": identity.caller if identity else None,
        "userArn": identity.user_arn if identity else None,
        "accessKey": identity.access_key if identity else None,
        "sourceIp": source_ip,
        "userAgent": user_agent,
    }


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedResponseError(ValueError):
    """The handler's result is not a Lambda proxy response (API Gateway answers 502)."""


_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


def map_response(result: Any) -> HttpResponse:
    """API Gateway's mapping of a Lambda proxy result to the HTTP response."""
    if not isinstance(result, dict) or not set(result) <= _RESPONSE_KEYS:
        raise MalformedResponseError("the result must be an object with only the proxy response keys")
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:  # noqa: PLR2004
        raise MalformedResponseError(f"statusCode must be an integer HTTP status, not {status!r}")
    headers = _response_headers(result.get("headers"), result.get("multiValueHeaders"))
    body = _response_body(result.get("body"), result.get("isBase64Encoded", False))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status=status, headers=headers, body=body)


def _response_headers(single: Any, multi: Any) -> list[tuple[str, str]]:
    # Both maps merge into one list; a name present in multiValueHeaders takes its values from there.
    if single is None:
        single = {}
    if multi is None:
        multi = {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponseError("headers and multiValueHeaders must be objects")
    merged: list[tuple[str, str]] = []
    for name, value in single.items():
        if name not in multi:
            merged.append((name, _header_value(value)))
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponseError(f"multiValueHeaders[{name!r}] must be a list")
        merged.extend((name, _header_value(value)) for value in values)
    return merged


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedResponseError(f"header values must be strings, not {type(value).__name__}")


def _response_body(body: Any, is_base64: Any) -> bytes:
    if not isinstance(is_base64, bool):
        raise MalformedResponseError("isBase64Encoded must be a boolean")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponseError("body must be a string")
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise MalformedResponseError("body is not valid base64") from exc


def gateway_error(status: int, message: str, error_type: str | None, request_id: str) -> HttpResponse:
    """A response API Gateway itself produces (400, 403, 413, 502, ...), with its JSON body and headers."""
    headers = [("Content-Type", "application/json")]
    if error_type is not None:
        headers.append(("x-amzn-ErrorType", error_type))
    headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status=status, headers=headers, body=json.dumps({"message": message}).encode())
