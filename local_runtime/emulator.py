"""moto in server mode, in this process, behind one threaded HTTP server that serializes DynamoDB.

moto's DynamoDB backend takes no locks (TransactWriteItems deep-copies the table without one, and a Query
can iterate a dict another thread is inserting into), so every DynamoDB and DynamoDB Streams request goes
through one lock. The API's handlers and external clients reach moto through the same port, so the lock
covers them all. SNS and SQS are left concurrent: SQS long polls must not block the table.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from moto.awslambda.models import LambdaBackend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import s3_backends
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wsgi import get_input_stream

from local_runtime import moto_speedups
from local_runtime.persistence import JournalEntry, write_bytes_atomically

if TYPE_CHECKING:
    from pathlib import Path

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # how soon serve_forever notices a shutdown

_SERIALIZED_TARGET_PREFIX = "DynamoDB"  # X-Amz-Target of both DynamoDB_20120810.* and DynamoDBStreams_*


# DynamoDB operations that change nothing; every other DynamoDB_20120810 request is journaled when it
# succeeds (a new or unknown operation errs on the side of the journal: replaying a read is harmless).
_READ_ONLY_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "DescribeBackup",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeExport",
        "DescribeGlobalTable",
        "DescribeImport",
        "DescribeKinesisStreamingDestination",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "GetResourcePolicy",
        "ListBackups",
        "ListExports",
        "ListGlobalTables",
        "ListImports",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)
_DYNAMODB_PREFIX = "DynamoDB_20120810."


def _journaled(target: str) -> bool:
    return (
        target.startswith(_DYNAMODB_PREFIX) and target[len(_DYNAMODB_PREFIX) :] not in _READ_ONLY_OPERATIONS
    )


class JournalWriter(Protocol):
    @property
    def written(self) -> int: ...

    def write(self, entry: JournalEntry) -> int: ...

    def sync(self, position: int) -> None: ...


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, its response fully produced inside the lock.

    With a journal (--data-dir), a request that changed the table is appended to it before the lock is
    released, and every request waits, after the lock, until the journal is on disk up to what it saw: no
    answer, to the writer or to a later reader, shows a write the disk does not hold.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._journal: JournalWriter | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(_SERIALIZED_TARGET_PREFIX):
            return self._app(environ, start_response)
        # Built before the request runs, so nothing can fail between applying a write and journaling it.
        entry = (
            JournalEntry(target, environ.get("HTTP_AUTHORIZATION", ""), _read_body(environ))
            if _journaled(target)
            else None
        )
        with self._lock:
            status, headers, response = self._call(environ)
            journal = self._journal
            position = 0
            if journal is not None:
                try:
                    if entry is not None and status.startswith("200"):
                        position = journal.write(entry)
                    else:
                        position = journal.written  # what this request saw must be on disk before it is told
                except OSError as exc:
                    _journal_failed(exc)
        if journal is not None:
            try:
                journal.sync(position)
            except OSError as exc:
                _journal_failed(exc)
        start_response(status, headers)
        return [response]

    def _call(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
        return _respond(self._app, environ)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Exclusive]:
        """No other DynamoDB request runs until the block ends; for restore, replay and snapshots."""
        with self._lock:
            yield Exclusive(self)


class Exclusive:
    """Requests made in-process while holding the DynamoDB lock (they are not journaled)."""

    def __init__(self, serialized: SerializedDynamoDB) -> None:
        self._serialized = serialized

    def request(self, target: str, body: bytes, authorization: str) -> tuple[int, bytes]:
        environ = EnvironBuilder(
            method="POST",
            path="/",
            headers=[
                ("X-Amz-Target", target),
                ("Authorization", authorization),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            data=body,
        ).get_environ()
        status, _, response = self._serialized._call(environ)  # noqa: SLF001 - the lock is held here
        return int(status.split(" ", 1)[0]), response

    def journal_to(self, journal: JournalWriter) -> None:
        """Journal every acknowledged write from now on (to this journal instead of any earlier one)."""
        self._serialized._journal = journal  # noqa: SLF001 - swapped under the lock, between two requests


def _journal_failed(error: OSError) -> NoReturn:
    # A write is applied but cannot be made durable: answering would break the promise, and the table now
    # differs from the disk. A restart recovers every acknowledged write.
    log.critical("cannot write the journal (%s); stopping", error)
    os._exit(70)


def _read_body(environ: WSGIEnvironment) -> str:
    """The request body, read outside the lock; moto reads it again from the copy put in its place."""
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input_terminated"] = False
    return body.decode("utf-8", "surrogateescape")  # JSON is UTF-8; any other byte survives the round trip


class DurableObjects:
    """WSGI middleware (--data-dir): an S3 object the emulator stored is written to the data dir, and
    synced, before the PutObject is answered. A commit that points to it is journaled only after that
    answer, so no journaled commit ever points to an object the disk does not hold."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._directory: Path | None = None

    def keep_in(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        bucket, _, key = str(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
        if (
            self._directory is None
            or environ["REQUEST_METHOD"] != "PUT"
            or not key
            or environ.get("QUERY_STRING")  # tagging, ACLs, parts: not an object's content
            or "HTTP_X_AMZ_TARGET" in environ
        ):
            return self._app(environ, start_response)
        status, headers, response = _respond(self._app, environ)
        if status.startswith("200"):
            try:
                stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
                if stored is not None:
                    write_bytes_atomically(self._directory / bucket / key, stored.value)
            except OSError as exc:
                _journal_failed(exc)
        start_response(status, headers)
        return [response]


def saved_objects(directory: Path) -> Iterator[tuple[str, str, bytes]]:
    """(bucket, key, content) of every object kept in the data dir."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            bucket, _, key = path.relative_to(directory).as_posix().partition("/")
            yield bucket, key, path.read_bytes()


def _respond(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a request to the end; its status, headers and body."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def capture(
        status: str, headers: list[tuple[str, str]], _exc_info: object = None
    ) -> Callable[[bytes], object]:
        started.append((status, headers))
        return written.append

    chunks = app(environ, capture)
    try:
        written.extend(chunks)
    finally:
        close: Callable[[], object] | None = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, headers = started[-1]
    return status, headers, b"".join(written)


class _KeepAliveHandler(MotoRequestHandler):
    # boto3 keeps connections open; HTTP/1.1 spares a TCP handshake per call.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # No Nagle: a response's separate header and body writes must not wait for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, *_args: Any, **_kwargs: Any) -> None:
        """Silenced: the API logs its own requests; emulator traffic would drown them."""


def _leave_streams_to_the_pump() -> None:
    """moto runs a stream's event source mappings itself on every table write (in Docker, which fails here)
    and then empties the stream: the mapping Terraform creates (`make apply WORKSPACE=local`) would eat the
    records the runtime's pump reads. The pump is that mapping here, so moto invokes nothing."""

    def send_nothing(
        _self: LambdaBackend, _function_arn: str, _items: list[Any], _source: str
    ) -> str | bytes:
        return ""  # moto keeps the stream's records when the send returns nothing

    LambdaBackend.send_dynamodb_items = send_nothing  # type: ignore[method-assign,assignment]


class Emulator:
    """moto's WSGI app on host:port (0 = a free port), started and stopped with the runtime."""

    def __init__(self, host: str, port: int) -> None:
        moto_speedups.install()
        _leave_streams_to_the_pump()
        app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
        self.objects = DurableObjects(app)
        self.dynamodb = SerializedDynamoDB(self.objects)
        self._server: BaseWSGIServer = make_server(
            host, port, self.dynamodb, threaded=True, request_handler=_KeepAliveHandler
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
