"""Contention (issue 11, item 4): "any" appends by 1, 4, 8 and 16 concurrent writers to one stream through
the local runtime's API (SigV4, the real handlers on moto): latency (p50, p99), write attempts per append
and refusals.

Attempts come from the functions' own EMF lines in the runtime's log (`AppendRetries`, lost races that
were retried, and `AppendsAccepted`), so they are what the store did, not an estimate.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import threading
import time
from collections import Counter
from typing import Any

from bench.report import Report, Row

WRITERS = (1, 4, 8, 16)
SECTION = "7 contention"


def _metric(line: dict[str, Any], name: str) -> int:
    value = line.get(name, 0)
    return int(sum(value) if isinstance(value, list) else value)


def _emf_lines(text: str) -> list[dict[str, Any]]:
    """The EMF objects in the log; concurrent invocations can put two on one line."""
    decoder, found, start = json.JSONDecoder(), [], text.find('{"_aws"')
    while start >= 0:
        with contextlib.suppress(ValueError):
            found.append(decoder.raw_decode(text, start)[0])
        start = text.find('{"_aws"', start + 1)
    return found


def _block(store: Any, writers: int, appends_per_writer: int) -> dict[str, Any]:
    http = store.client()
    created = http.request("POST", "/streams/tally", {"initialEvent": {"eventType": "Opened"}})
    if created.status != 201:
        raise RuntimeError(f"create failed: {created.status} {created.body[:300]!r}")
    stream_id = created.json()["stream"]["streamId"]
    log_offset = store.log_file.stat().st_size
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(writers)

    def writer(number: int) -> None:
        client = store.client()  # one connection per writer
        start.wait(timeout=60)
        for index in range(appends_per_writer):
            body = {
                "expectedRevision": "any",
                "events": [{"eventType": "Counted", "payload": [number, index]}],
            }
            began = time.perf_counter()
            response = client.request("POST", f"/streams/tally/{stream_id}/events", body)
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                statuses[response.status] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.5)  # the last invocations' log lines
    with store.log_file.open("rb") as log:
        log.seek(log_offset)
        emf = _emf_lines(log.read().decode(errors="replace"))
    retries = [_metric(line, "AppendRetries") for line in emf if _metric(line, "AppendsAccepted")]
    accepted = len(retries)
    revision = http.request("GET", f"/streams/tally/{stream_id}/details").json()["stream"]["revision"]
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "writers": writers,
        "appends": len(latencies),
        "accepted": statuses[201],
        "refused": len(latencies) - statuses[201],
        "statuses": " ".join(f"{status}x{n}" for status, n in sorted(statuses.items())),
        "gapless": revision == 1 + statuses[201],
        "attemptsPerAppend": round(1 + sum(retries) / accepted, 2) if accepted else None,
        "maxAttempts": 1 + max(retries, default=0),
        "p50Ms": round(quantiles[49] * 1000, 1),
        "p99Ms": round(quantiles[98] * 1000, 1),
    }


def run(report: Report, *, appends_per_writer: int = 12) -> list[dict[str, Any]] | None:
    try:
        from local_runtime.testing import launch  # noqa: PLC0415 - the runtime is optional for the bench
    except ImportError as exc:
        report.add(Row(SECTION, '"any" appends refused, 1-16 writers', None, note=f"pending: {exc}"))
        return None
    # The local runtime turns EMF off by default; the attempts are read from it.
    with launch(require_iam=True, environment={"POWERTOOLS_METRICS_DISABLED": "false"}) as store:
        _block(store, max(WRITERS), 2)  # warm-up: a container per writer, connections
        blocks = [_block(store, writers, appends_per_writer) for writers in WRITERS]
    report.tables['"any" appends to one stream by concurrent writers (local runtime)'] = blocks
    for block in blocks:
        report.add(
            Row(
                SECTION,
                f'"any" append, {block["writers"]} writers on one stream',
                block["attemptsPerAppend"],
                "attempts",
                note=(
                    f"p50 {block['p50Ms']:g} ms, p99 {block['p99Ms']:g} ms, at most {block['maxAttempts']} "
                    f"attempts; {block['appends']} appends"
                ),
            )
        )
    refused = sum(block["refused"] for block in blocks)
    gapless = all(block["gapless"] for block in blocks)
    report.add(
        Row(
            SECTION,
            '"any" appends refused, 1-16 writers',
            refused,
            "",
            "0",
            refused == 0 and gapless,
            "revisions gapless" if gapless else "REVISIONS NOT GAPLESS",
        )
    )
    return blocks
