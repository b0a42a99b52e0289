"""The API's HTTP server: API Gateway in front of the Lambda handlers (plus the docs, outside the API)."""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl

from local_runtime import sigv4
from local_runtime.apigateway import (
    HttpResponse,
    IncomingRequest,
    MalformedResponseError,
    build_event,
    gateway_error,
    map_response,
    match_route,
)
from local_runtime.lambdas import FunctionNotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from local_runtime.apigateway import Route
    from local_runtime.docs import ApiDocs
    from local_runtime.lambdas import LambdaFunction

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # how soon serve_forever notices a shutdown


class ApiGateway:
    """Routes a request, authorizes it (AWS_IAM), invokes the function and maps its response."""

    def __init__(
        self,
        routes: Sequence[Route],
        functions: Mapping[str, LambdaFunction],
        *,
        credentials: Mapping[str, str],
        region: str,
        require_iam: bool,
        docs: ApiDocs | None = None,
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

    def handle(self, request: IncomingRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        if self._docs is not None and (page := self._docs.serve(request)) is not None:
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
        if identity is None and self._require_iam:
            return gateway_error(403, sigv4.MISSING_TOKEN, "MissingAuthenticationTokenException", request_id)
        return matched[0], matched[1], identity

    def _invoke(self, function_name: str, event: dict[str, Any], request_id: str) -> HttpResponse:
        invocation = self._invocations.submit(self._functions[function_name].invoke, event)
        try:
            return map_response(invocation.result(timeout=self._timeout))
        except TimeoutError:
            log.error("%s: no response within %.0f s", function_name, self._timeout)  # noqa: TRY400
            return gateway_error(
                504, "Endpoint request timed out", "InternalServerErrorException", request_id
            )
        except MalformedResponseError as exc:
            log.error("%s: malformed Lambda proxy response: %s", function_name, exc)  # noqa: TRY400
        except FunctionNotFoundError as exc:
            log.error("%s", exc)  # noqa: TRY400 - a missing handler file needs no traceback
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


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    gateway: ClassVar[ApiGateway]

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle's algorithm the body would wait for the
        # client's delayed ACK (40 ms on Linux) on every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        started = time.perf_counter()
        raw_path, _, raw_query = self.path.partition("?")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        request = IncomingRequest(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            query=parse_qsl(raw_query, keep_blank_values=True),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        response = self.gateway.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        log.info(
            "%s %s %d %.1f ms",
            self.command,
            self.path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )

    def _read_chunked(self) -> bytes:
        """A `Transfer-Encoding: chunked` body (curl -T -, streaming clients), which API Gateway accepts."""
        chunks: list[bytes] = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return b"".join(chunks)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Silenced: `_serve` logs one line per request."""


class ApiServer:
    def __init__(self, host: str, port: int, gateway: ApiGateway) -> None:
        self._gateway = gateway
        handler = type("RequestHandler", (_RequestHandler,), {"gateway": gateway})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True  # idle keep-alive connections must not hold up Ctrl-C
        self._thread = threading.Thread(
            target=functools.partial(self._server.serve_forever, _POLL_SECONDS), name="api", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("API listening on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._gateway.close()
