"""SnapStart: environments restored from one snapshot of init must not share what init drew or opened.

A fork is a snapshot: parent and child continue from the same memory, as two environments restored from
one SnapStart snapshot do. The hooks run the way Lambda's runtime runs them (snapshot_restore_py's registry).
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import snapshot_restore_py

from eventstore import service
from eventstore.dynamodb.store import DynamoEventStore


@pytest.fixture(autouse=True)
def snapshot_init(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Init as Lambda runs it for a snapshot: the hook registered with the runtime's registry."""
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    registered = list(snapshot_restore_py._after_restore_registry)
    service._register_restore_hook()
    yield
    snapshot_restore_py._after_restore_registry[:] = registered


def _run_restore_hooks() -> None:
    for hook, args, kwargs in snapshot_restore_py._after_restore_registry:
        hook(*args, **kwargs)


def _draws_in_two_restored_environments(draw: Callable[[], float]) -> tuple[list[float], list[float]]:
    """The same draws in this process and in a fork of it. The child only draws and exits: other threads'
    locks (pytest's, a local store's) are copied held or not, so it touches nothing else."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other environment
        try:
            os.write(write, json.dumps([draw() for _ in range(4)]).encode())
        finally:
            os._exit(0)
    os.close(write)
    here = [draw() for _ in range(4)]
    with os.fdopen(read) as pipe:
        there: list[float] = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return here, there


def test_the_restore_hook_is_registered_with_the_runtime() -> None:
    hooks = [hook for hook, _, _ in snapshot_restore_py._after_restore_registry]
    assert hooks.count(service.refresh_after_restore) == 1


def test_an_on_demand_init_registers_no_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot_restore_py._after_restore_registry.clear()
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    service._register_restore_hook()
    assert snapshot_restore_py._after_restore_registry == []


def test_restored_environments_draw_different_retry_jitter() -> None:
    """botocore's retry back-off draws from the standard library's PRNG, seeded once at init. (Not a fork:
    the random module reseeds itself in a forked child, which a restore does not do.)"""
    snapshot = random.getstate()
    _run_restore_hooks()
    here = [random.random() for _ in range(4)]  # noqa: S311 - the PRNG botocore's jitter uses
    random.setstate(snapshot)
    _run_restore_hooks()
    there = [random.random() for _ in range(4)]  # noqa: S311
    assert here != there


def test_restored_environments_back_off_differently_after_a_lost_race() -> None:
    store = DynamoEventStore(service.dynamodb_client(), "events")
    here, there = _draws_in_two_restored_environments(lambda: store.writer._jitter.uniform(0, 1))
    assert here != there


class _Connections(ThreadingHTTPServer):
    """Answers every DynamoDB call with an empty table list over keep-alive, counting TCP connections."""

    opened = 0

    def get_request(self):  # type: ignore[no-untyped-def]  # noqa: ANN202 - socketserver's signature
        self.opened += 1
        return super().get_request()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"TableNames": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Connections]:
    server = _Connections(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    service.aws_session.cache_clear()
    yield server
    server.shutdown()
    server.server_close()
    service.aws_session.cache_clear()


def test_a_restore_drops_the_connections_init_opened(endpoint: _Connections) -> None:
    client = service.dynamodb_client()
    client.list_tables()  # as list_streams calls KMS at init
    client.list_tables()
    assert endpoint.opened == 1, "keep-alive: one connection so far"
    service.refresh_after_restore()
    client.list_tables()
    assert endpoint.opened == 2, "the connection from before the snapshot was reused"
