"""The API's HTTP server: API Gateway in front of the Lambda handlers (plus the docs and the console, outside
the API)."""

from __future__ import annotations

import functools
import json
import logging
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import WSGIRequestHandler, make_server

from local_runtime import sigv4
from local_runtime.containers import FunctionError
from local_runtime.lambdas import FunctionNotFoundError
from local_runtime.proxy_events import (
    HttpResponse,
    IncomingRequest,
    MalformedResponseError,
    build_event,
    gateway_error,
    map_response,
    match_route,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

    from local_runtime.console import ConsolePages
    from local_runtime.docs import ApiDocs
    from local_runtime.lambdas import Function
    from local_runtime.proxy_events import Route

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # how soon serve_forever notices a shutdown


class ApiGateway:
    """Routes a request, authorizes it (AWS_IAM), invokes the function and maps its response."""

    def __init__(
        self,
        routes: Sequence[Route],
        functions: Mapping[str, Function],
        *,
        credentials: Mapping[str, str],
        region: str,
        require_iam: bool,
        docs: ApiDocs | None = None,
        console: ConsolePages | None = None,
        integration_timeout_seconds: float = 29.0,
    ) -> None:
        self._routes = routes
        self._timeout = integration_timeout_seconds
        # Invocations run here so a slow one can be answered with API Gateway's 504 while it goes on.
        self._invocations = ThreadPoolExecutor(max_workers=64, thread_name_prefix="invoke")
        self._functions = functions
        self._credentials = credentials
        self._region = region
        self._require_iam = require_iam
        self._docs = docs
        self._console = console

    def handle(self, request: IncomingRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        if self._docs is not None and (page := self._docs.serve(request)) is not None:
            return page
        if self._console is not None and (page := self._console.serve(request)) is not None:
            return page
        admitted = self._admit(request, request_id)
        if isinstance(admitted, HttpResponse):
            return admitted
        route, path_parameters, identity = admitted
        event = build_event(request, route, path_parameters, identity=identity, request_id=request_id)
        response = self._invoke(route.function, event, request_id)
        response.headers.append(("x-amzn-RequestId", request_id))
        return response

    def _admit(
        self, request: IncomingRequest, request_id: str
    ) -> HttpResponse | tuple[Route, dict[str, str], sigv4.Identity | None]:
        """The route, path parameters and caller, or API Gateway's 403."""
        matched = match_route(self._routes, request.method, request.raw_path)
        if matched is None:
            # API Gateway's answer for an unknown resource or method, signed or not.
            return gateway_error(403, sigv4.MISSING_TOKEN, "MissingAuthenticationTokenException", request_id)
        try:
            identity = self._authorize(request)
        except sigv4.AuthorizationError as exc:
            return gateway_error(403, exc.message, exc.error_type, request_id)
        if identity is None and (self._require_iam or matched[0].require_iam):
            return gateway_error(403, sigv4.MISSING_TOKEN, "MissingAuthenticationTokenException", request_id)
        return matched[0], matched[1], identity

    def _invoke(self, function_name: str, event: dict[str, Any], request_id: str) -> HttpResponse:
        if _json_bytes(event) >= LAMBDA_REQUEST_BYTES:
            # Lambda refuses the invocation (RequestEntityTooLargeException); API Gateway answers 413.
            return gateway_error(413, _TOO_LARGE, "BadRequestException", request_id)
        invocation = self._invocations.submit(self._functions[function_name].invoke, event)
        try:
            result = invocation.result(timeout=self._timeout)
            if _json_bytes(result) > LAMBDA_RESPONSE_BYTES:
                log.error("%s: response over Lambda's %d bytes", function_name, LAMBDA_RESPONSE_BYTES)
                return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)
            return map_response(result)
        except TimeoutError:
            log.error("%s: no response within %.0f s", function_name, self._timeout)  # noqa: TRY400
            return gateway_error(
                504, "Endpoint request timed out", "InternalServerErrorException", request_id
            )
        except MalformedResponseError as exc:
            log.error("%s: malformed Lambda proxy response: %s", function_name, exc)  # noqa: TRY400
        except (FunctionNotFoundError, FunctionError) as exc:
            # A missing handler file, or the function's own error (its container logged the traceback).
            log.error("%s", exc)  # noqa: TRY400
        except Exception:
            # Lambda reports the unhandled error; API Gateway answers 502.
            log.exception("%s: unhandled error", function_name)
        return gateway_error(502, "Internal server error", "InternalServerErrorException", request_id)

    def close(self) -> None:
        self._invocations.shutdown(wait=False, cancel_futures=True)

    def _authorize(self, request: IncomingRequest) -> sigv4.Identity | None:
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        signed = sigv4.SignedRequest(
            method=request.method,
            host=headers.get("host", ""),
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=headers,
            body=request.body,
        )
        return sigv4.verify(signed, self._credentials, self._region)


_MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway REST's payload limit
LAMBDA_REQUEST_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation: the event's JSON "must be smaller than 6291456 bytes"."""
LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
"""...and the response's JSON at most 6,291,556 bytes (more: the invocation fails, API Gateway 502)."""


def _json_bytes(value: Any) -> int:
    """A value's size as Lambda's JSON (UTF-8, non-ASCII as is: the python3.12+ runtime's marshaller)."""
    return len(json.dumps(value, ensure_ascii=False).encode())


_DIGITS = re.compile(r"[0-9]+")
_HEADERS = "local_runtime.headers"  # environ key: the headers as sent (names, order, repeats)
_TOO_LARGE = "Request Too Long"  # API Gateway's message for a body over its limit


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _GatewayApplication:
    """WSGI application: werkzeug's server parses HTTP (chunked bodies included); API Gateway's limits and
    answers for a body it cannot take are applied here."""

    def __init__(self, gateway: ApiGateway) -> None:
        self._gateway = gateway

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method: str = environ["REQUEST_METHOD"]
        raw_uri: str = environ["RAW_URI"]
        try:
            body = _read_body(environ)
        except _Rejected as rejection:
            response = gateway_error(rejection.status, rejection.message, None, str(uuid.uuid4()))
        else:
            raw_path, _, raw_query = raw_uri.partition("?")
            request = IncomingRequest(
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=environ[_HEADERS],
                query=parse_qsl(raw_query, keep_blank_values=True),
                body=body,
                source_ip=environ["REMOTE_ADDR"],
                protocol=environ["SERVER_PROTOCOL"],
            )
            response = self._gateway.handle(request)
        reason = HTTP_STATUS_CODES.get(response.status, "Unknown")
        start_response(
            f"{response.status} {reason}",
            [*response.headers, ("Content-Length", str(len(response.body)))],
        )
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1f ms", method, raw_uri, response.status, elapsed)
        return [b"" if method == "HEAD" else response.body]


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The body, or API Gateway's 400 (unreadable framing) or 413 (over 10 MB)."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks it
        try:
            body: bytes = stream.read(_MAX_BODY_BYTES + 1)
        except OSError as exc:  # a bad chunk size or terminator
            raise _Rejected(400, "Bad Request") from exc
        if len(body) > _MAX_BODY_BYTES:
            raise _Rejected(413, _TOO_LARGE)
        return body
    declared = environ.get("CONTENT_LENGTH", "")
    if not declared:
        return b""
    if not _DIGITS.fullmatch(declared):  # not a number, negative, or several values
        raise _Rejected(400, "Bad Request")
    length = int(declared)
    if length > _MAX_BODY_BYTES:
        raise _Rejected(413, _TOO_LARGE)
    body = stream.read(length)
    if len(body) != length:
        raise _Rejected(400, "Bad Request")
    return body


class _RequestHandler(WSGIRequestHandler):
    timeout = 30  # seconds a client may take to send a request (API Gateway gives up sooner)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle's algorithm the body would wait for the
        # client's delayed ACK (40 ms on Linux).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[_HEADERS] = list(self.headers.items())
        return environ

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request line or headers the server cannot parse (a URL over 64 KiB: 414), answered in API
        Gateway's JSON rather than http.server's HTML page."""
        del explain
        response = gateway_error(
            code, message or HTTP_STATUS_CODES.get(code, "Error"), None, str(uuid.uuid4())
        )
        self.close_connection = True
        self.send_response(code, message)
        for name, value in [*response.headers, ("Content-Length", str(len(response.body)))]:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, *_args: Any, **_kwargs: Any) -> None:
        """Silenced: the application logs one line per request."""


class ApiServer:
    def __init__(self, host: str, port: int, gateway: ApiGateway) -> None:
        self._gateway = gateway
        self._server: BaseWSGIServer = make_server(
            host, port, _GatewayApplication(gateway), threaded=True, request_handler=_RequestHandler
        )
        self._thread = threading.Thread(
            target=functools.partial(self._server.serve_forever, _POLL_SECONDS), name="api", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()
        log.info("API listening on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._gateway.close()
