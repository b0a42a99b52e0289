"""moto in server mode, in this process, behind one threaded HTTP server that serializes DynamoDB.

moto's DynamoDB backend takes no locks (TransactWriteItems deep-copies the table without one, and a Query
can iterate a dict another thread is inserting into), so every DynamoDB and DynamoDB Streams request goes
through one lock. The API's handlers and external clients reach moto through the same port, so the lock
covers them all. SNS and SQS are left concurrent: SQS long polls must not block the table.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local_runtime import moto_speedups

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # how soon serve_forever notices a shutdown

_SERIALIZED_TARGET_PREFIX = "DynamoDB"  # X-Amz-Target of both DynamoDB_20120810.* and DynamoDBStreams_*


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, its response fully produced inside the lock."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(_SERIALIZED_TARGET_PREFIX):
            return self._app(environ, start_response)
        with self._lock:
            chunks = self._app(environ, start_response)
            try:
                return [b"".join(chunks)]
            finally:
                close: Callable[[], object] | None = getattr(chunks, "close", None)
                if close is not None:
                    close()


class _KeepAliveHandler(MotoRequestHandler):
    # boto3 keeps connections open; HTTP/1.1 spares a TCP handshake per call.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # No Nagle: a response's separate header and body writes must not wait for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, *_args: Any, **_kwargs: Any) -> None:
        """Silenced: the API logs its own requests; emulator traffic would drown them."""


class Emulator:
    """moto's WSGI app on host:port (0 = a free port), started and stopped with the runtime."""

    def __init__(self, host: str, port: int) -> None:
        moto_speedups.install()
        app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer = make_server(
            host, port, SerializedDynamoDB(app), threaded=True, request_handler=_KeepAliveHandler
        )
        self._thread = threading.Thread(
            target=functools.partial(self._server.serve_forever, _POLL_SECONDS), name="emulator", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.server_port}"

    def start(self) -> None:
        # moto's SNS builds SQS endpoint URLs from MOTO_PORT, as `python -m moto.server` sets it.
        os.environ.setdefault("MOTO_PORT", str(self._server.server_port))
        self._thread.start()
        log.info("emulator (moto) listening on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
