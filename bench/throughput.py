"""Local runtime throughput (item 5): appends/s over HTTP (SigV4-signed, through the local API Gateway and
the real handlers on moto) with 8 concurrent clients, at an empty table and at a table already holding
10,000 events in 100 streams, and at an empty table with --data-dir (every write journaled and fsynced
before it is answered); read throughput paging a 10,000-event stream.

The three tables live in three local runtimes started side by side, and the append measurements alternate
between them in rounds, so the rates come from the same minutes of this (shared, noisy) machine.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import Report, Row

CLIENTS = 8
TARGET = 0.8
LOADED_EVENTS = 10_000
LOADED_STREAMS = 100
BATCH = 100


def _event(index: int) -> dict[str, Any]:
    return {"eventType": "OrderUpdated", "payload": {"n": index, "note": "x" * 200}}


def _check(response: Any, status: int) -> Any:
    if response.status != status:
        raise RuntimeError(f"expected {status}, got {response.status}: {response.body[:500]!r}")
    return response.json()


def _create(http: Any, events: list[dict[str, Any]]) -> str:
    body = _check(http.request("POST", "/streams/order", {"events": events}), 201)
    stream_id: str = body["stream"]["streamId"]
    return stream_id


def _append_batch(http: Any, stream_id: str, expected: int, events: list[dict[str, Any]]) -> None:
    body = {"expectedRevision": expected, "events": events}
    _check(http.request("POST", f"/streams/order/{stream_id}/events", body), 201)


def _load(http: Any, streams: int, events_per_stream: int) -> list[str]:
    ids = []
    for _ in range(streams):
        stream_id = _create(http, [_event(i) for i in range(min(BATCH, events_per_stream))])
        for expected in range(BATCH, events_per_stream, BATCH):
            _append_batch(http, stream_id, expected, [_event(i) for i in range(BATCH)])
        ids.append(stream_id)
    return ids


def _concurrently(work: Callable[[int], int]) -> float:
    """Run work(client) on CLIENTS threads; return operations per second."""
    counts = [0] * CLIENTS
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            counts[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def _append_rate(store: Any, appends_per_client: int) -> float:
    http = store.client()
    streams = [_create(http, [_event(0)]) for _ in range(CLIENTS)]

    def work(index: int) -> int:
        client = store.client()  # one connection per thread
        stream_id = streams[index]
        for revision in range(2, appends_per_client + 2):
            body = {"event": _event(revision)}
            _check(client.request("PUT", f"/streams/order/{stream_id}/events/{revision}", body), 201)
        return appends_per_client

    return _concurrently(work)


def _read_rate(store: Any, stream_id: str, events: int) -> float:
    http = store.client()
    started = time.perf_counter()
    after, read = 0, 0
    while True:
        path = f"/streams/order/{stream_id}/events?after-revision={after}&limit=1000"
        page = _check(http.request("GET", path), 200)["eventPage"]
        read += len(page["events"])
        after = page["lastEvaluatedRevision"]
        if not page["hasMore"]:
            break
    if read != events:
        raise RuntimeError(f"paged {read} events, expected {events}")
    return read / (time.perf_counter() - started)


def run(report: Report, *, rounds: int = 3, appends_per_client: int = 20) -> dict[str, float] | None:
    section = "5 local runtime"
    try:
        from local_runtime.testing import launch  # noqa: PLC0415 - the runtime is optional for the bench
    except ImportError as exc:
        report.add(
            Row(section, "append rate at 10,000 / empty", None, "", f">= {TARGET}", None, f"pending: {exc}")
        )
        return None
    with (
        tempfile.TemporaryDirectory(prefix="bench-data-dir-") as data_dir,
        launch(require_iam=True) as empty,
        launch(require_iam=True) as loaded,
        launch(require_iam=True, data_dir=Path(data_dir)) as durable,
    ):
        started = time.perf_counter()
        _load(loaded.client(), LOADED_STREAMS, LOADED_EVENTS // LOADED_STREAMS)
        load_seconds = time.perf_counter() - started
        stores = {"empty": empty, "loaded": loaded, "durable": durable}
        rates: dict[str, list[float]] = {name: [] for name in stores}
        for store in stores.values():  # warm-up: the functions' first invocations, connections
            _append_rate(store, 2)
        for _ in range(rounds):
            for name, store in stores.items():
                rates[name].append(_append_rate(store, appends_per_client))
        (long_stream,) = _load(loaded.client(), 1, LOADED_EVENTS)
        reads = [_read_rate(loaded, long_stream, LOADED_EVENTS) for _ in range(2)]
    empty_rate, loaded_rate = statistics.median(rates["empty"]), statistics.median(rates["loaded"])
    durable_rate = statistics.median(rates["durable"])
    ratio = loaded_rate / empty_rate
    durable_ratio = durable_rate / empty_rate
    clients = f"{CLIENTS} clients x {appends_per_client} PUTs, {rounds} alternating rounds, medians"
    report.add(Row(section, "appends/s, empty table", empty_rate, "/s", note=clients))
    report.add(
        Row(
            section,
            "appends/s at 10,000 events in 100 streams",
            loaded_rate,
            "/s",
            note=f"loaded with {LOADED_EVENTS} events in {load_seconds:.0f} s (batch appends of {BATCH})",
        )
    )
    report.add(Row(section, "append rate at 10,000 / empty", ratio, "x", f">= {TARGET}", ratio >= TARGET))
    report.add(
        Row(
            section,
            "appends/s, empty table, --data-dir",
            durable_rate,
            "/s",
            note="every acknowledged DynamoDB write journaled and fsynced first",
        )
    )
    report.add(
        Row(
            section,
            "append rate with --data-dir / without",
            durable_ratio,
            "x",
            f">= {TARGET}",
            durable_ratio >= TARGET,
            note=f"{durable_rate:.1f} vs {empty_rate:.1f} /s, side by side",
        )
    )
    read_rate = statistics.median(reads)
    report.add(
        Row(section, "read events/s, paging a 10,000-event stream", read_rate, "/s", note="limit=1000")
    )
    return {
        "empty": empty_rate,
        "loaded": loaded_rate,
        "ratio": ratio,
        "durable": durable_rate,
        "durable_ratio": durable_ratio,
        "read": read_rate,
    }
