"""The web console: its pages (served by the local runtime at /console/ too) and `eventstore console`, a
server on 127.0.0.1 that serves them and forwards the page's API calls to the API, signed with the caller's
AWS credentials. No credential reaches the browser."""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import urllib3
from botocore.exceptions import NoCredentialsError

from eventstore_client._transport import sign_request

if TYPE_CHECKING:
    from eventstore_client._transport import CredentialSource

log = logging.getLogger("eventstore_client.console")

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
PAGE_HEADERS: Final = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
CONSOLE_HEADER: Final = "X-Eventstore-Console"
"""Sent by the page on every API call. A cross-site page cannot send it without a CORS preflight, which the
proxy never grants, so it cannot make the proxy sign a request for it."""

_ASSETS: Final = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_FORWARDED_REQUEST_HEADERS: Final = ("Accept", "Content-Type", "Idempotency-Key")
_FORWARDED_RESPONSE_HEADERS: Final = (
    "Content-Type",
    "Retry-After",
    "Idempotent-Replay",
    "x-amzn-RequestId",
    "x-amzn-ErrorType",
)
_WRITE_METHODS: Final = frozenset({"POST", "PUT", "DELETE"})
_MAX_BODY_BYTES: Final = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def console_page(path: str, *, allow_writes: bool) -> Page | None:
    """The console's answer to a GET of `path`, or None when the path is not the console's."""
    if path == "/console":
        return Page(301, (("Location", "/console/"), *PAGE_HEADERS), b"")
    if not path.startswith("/console/"):
        return None
    name = path.removeprefix("/console/") or "index.html"
    if name == "config.json":
        return Page(200, _headers("application/json"), json.dumps({"allowWrites": allow_writes}).encode())
    if name not in _ASSETS:
        return None
    return Page(200, _headers(_ASSETS[name]), _asset(name))


def _headers(content_type: str) -> tuple[tuple[str, str], ...]:
    return (("Content-Type", content_type), *PAGE_HEADERS)


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("console_static", name).read_bytes()


class ConsoleServer:
    """`eventstore console`: the pages, and the API behind them through a signing proxy."""

    def __init__(
        self,
        api_url: str,
        *,
        region: str,
        session: CredentialSource,
        allow_writes: bool,
        port: int = 0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.region = region
        self.session = session
        self.allow_writes = allow_writes
        self.pool = pool or urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=35), retries=False)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Handler, self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/console/"

    def hosts(self) -> frozenset[str]:
        """The Host headers a request to this server may carry (a rebound DNS name is refused)."""
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop a server started with `start()`."""
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        self.stop_serving()

    def stop_serving(self) -> None:
        """Close the listening socket (after `serve_forever()` returned)."""
        self._server.server_close()
        self.pool.clear()

    def forward(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> Page:
        """Sign and send one API call; the API's answer as it came (status, body and a few headers)."""
        parts = urlsplit(target)
        # RFC 3986 encoding: SigV4 signs the query string as sent, and the API checks it as received.
        query = urlencode(parse_qsl(parts.query, keep_blank_values=True), quote_via=quote)
        url = f"{self.api_url}{parts.path}" + (f"?{query}" if query else "")
        credentials = self.session.get_credentials()
        if credentials is None:
            raise NoCredentialsError
        signed = sign_request(
            method, url, body, headers, credentials=credentials.get_frozen_credentials(), region=self.region
        )
        response = self.pool.request(method, url, body=body, headers=signed, redirect=False)
        forwarded = tuple(
            (name, response.headers[name]) for name in _FORWARDED_RESPONSE_HEADERS if name in response.headers
        )
        return Page(response.status, (*forwarded, *PAGE_HEADERS[1:]), response.data)


class _Handler(BaseHTTPRequestHandler):
    server_version = "eventstore-console"

    def __init__(self, console: ConsoleServer, *args: Any) -> None:
        self.console = console
        super().__init__(*args)

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        if self.headers.get("Host") not in self.console.hosts():
            self._send(_refusal(421, "this server answers only at 127.0.0.1 or localhost"))
            return
        path = urlsplit(self.path).path
        if self.command in {"GET", "HEAD"}:
            if path == "/":
                self._send(Page(302, (("Location", "/console/"),), b""))
                return
            if (page := console_page(path, allow_writes=self.console.allow_writes)) is not None:
                self._send(page)
                return
        self._send(self._proxied())

    def _proxied(self) -> Page:
        if (refusal := self._refusal()) is not None:
            return refusal
        length = self.headers.get("Content-Length", "")
        body = None
        if length:
            if not length.isdigit() or int(length) > _MAX_BODY_BYTES:
                return _refusal(413, "request body too large")
            body = self.rfile.read(int(length))
        headers = {name: value for name in _FORWARDED_REQUEST_HEADERS if (value := self.headers.get(name))}
        try:
            return self.console.forward(self.command, self.path, headers, body)
        except NoCredentialsError:
            return _refusal(500, "no AWS credentials to sign with (see `aws configure` or AWS_PROFILE)")
        except urllib3.exceptions.HTTPError as exc:
            return _refusal(502, f"the API did not answer: {exc}")

    def _refusal(self) -> Page | None:
        """Why the proxy will not sign this request for the browser, if it will not."""
        if self.headers.get(CONSOLE_HEADER) != "1":
            return _refusal(403, f"API calls through the console need the {CONSOLE_HEADER} header")
        origin = self.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in self.console.hosts():
            return _refusal(403, "cross-origin calls are refused")
        if self.command in _WRITE_METHODS and not self.console.allow_writes:
            return _refusal(403, "the console is read-only: start it with --allow-writes to write")
        return None

    def _send(self, page: Page) -> None:
        self.send_response(page.status)
        for name, value in page.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(page.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.info("%s %s", self.address_string(), format % args)


def _refusal(status: int, detail: str) -> Page:
    body = {"type": "urn:eventstore-console:refused", "title": detail, "status": status}
    return Page(
        status, (("Content-Type", "application/problem+json"), *PAGE_HEADERS[1:]), json.dumps(body).encode()
    )


__all__ = ["CONTENT_SECURITY_POLICY", "ConsoleServer", "Page", "console_page"]
