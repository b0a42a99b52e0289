"""`make run` stops on the first SIGINT/SIGTERM however many arrive, and at once on a second request.

A group kill (`kill -TERM -- -PGID`, and `make`, which forwards SIGTERM to its child) delivers the signal
more than once; the handler used to call Event.set(), and a signal arriving inside it deadlocked the
runtime for good.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from local_runtime import REPO_ROOT
from local_runtime.testing import LocalStore, launch

if TYPE_CHECKING:
    from pathlib import Path

ROUNDS = 20
EXIT_WITHIN_SECONDS = 10.0


def _load(store: LocalStore, stop: threading.Event, appended: list[int]) -> None:
    """Appends to a stream of its own until `stop`, or until the runtime no longer answers."""
    api = store.client()
    created = api.request("POST", "/streams/load", {"initialEvent": {"eventType": "started"}})
    path = f"/streams/load/{created.json()['stream']['streamId']}/events"
    while not stop.is_set():
        try:
            response = api.request(
                "POST", path, {"events": [{"eventType": "ticked"}], "expectedRevision": "any"}
            )
        except (OSError, http.client.HTTPException):  # the runtime stopped mid-request
            return
        if response.status != 201:
            return
        appended.append(1)


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_repeated_signals_stop_a_loaded_runtime(round_number: int) -> None:
    # A fresh in-memory runtime per round (about 2 s each): the hang lived in how the process handles
    # signals, so only a real process, signalled while it serves, can show it.
    with launch(require_iam=False) as store:
        stop, appended = threading.Event(), list[int]()
        workers = [threading.Thread(target=_load, args=(store, stop, appended)) for _ in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 10
        while len(appended) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(appended) >= 20, "the runtime did not take the load"
        signals = [signal.SIGTERM, signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT]
        sent = time.monotonic()
        for signum in signals[round_number % 2 :]:
            os.kill(store.process.pid, signum)
        try:
            store.process.wait(EXIT_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"still running {EXIT_WITHIN_SECONDS} s after the signals; log:\n{_tail(store.log_file)}"
            )
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert time.monotonic() - sent < EXIT_WITHIN_SECONDS


@pytest.mark.slow
def test_a_group_kill_still_stops_gracefully_and_saves(tmp_path: Path) -> None:
    with launch(require_iam=False, data_dir=tmp_path) as store:
        api = store.client()
        assert api.request("POST", "/streams/kept", {"initialEvent": {"eventType": "placed"}}).status == 201
        for _ in range(3):  # as fast as `make` forwards the group's SIGTERM
            os.kill(store.process.pid, signal.SIGTERM)
        assert store.process.wait(EXIT_WITHIN_SECONDS) == 0, _tail(store.log_file)
    assert "kept" in (tmp_path / "table-items.json").read_text()


_WAITS_THEN_HANGS = """
import sys, time
from local_runtime.__main__ import StopRequests
requests = StopRequests()
print("waiting", flush=True)
requests.wait()
print("stopping", flush=True)
time.sleep(60)  # a graceful stop that does not finish
"""


def _waiting_process() -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _WAITS_THEN_HANGS],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "waiting\n"
    return process


def test_a_second_ctrl_c_exits_at_once() -> None:
    process = _waiting_process()
    try:
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        assert process.stdout.readline() == "stopping\n"
        time.sleep(0.7)
        process.send_signal(signal.SIGINT)
        assert process.wait(5) == 128 + signal.SIGINT
        assert process.stderr is not None
        assert "unsaved data is lost" in process.stderr.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()


def test_signals_arriving_together_are_one_request() -> None:
    process = _waiting_process()
    try:
        for _ in range(5):
            process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        assert process.stdout.readline() == "stopping\n"
        time.sleep(0.7)
        assert process.poll() is None, "duplicates of one group kill must not skip the graceful stop"
    finally:
        process.kill()
        process.wait()


def _tail(log_file: Path) -> str:
    return log_file.read_text()[-3000:]
