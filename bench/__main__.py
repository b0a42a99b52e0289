"""`python -m bench`: run every measurement, print the table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    coldstart,
    contention,
    cost,
    erasure,
    feeds,
    large_payloads,
    operations,
    overhead,
    removal,
    snapshots,
    throughput,
)
from bench.harness import ROOT
from bench.report import Report, Row, render, write_json

SECTIONS = (
    "requests",
    "overhead",
    "coldstart",
    "throughput",
    "contention",
    "feeds",
    "cost",
    "erasure",
    "snapshots",
    "large-payloads",
    "removal",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and events (a smoke run, ~2 min)")
    parser.add_argument("--rounds", type=int, help="cold-start rounds per variant (default 30; quick 2)")
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="leave a section out")
    parser.add_argument("--only", action="append", default=[], choices=SECTIONS, help="run only this section")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 30)
    args.skip = _skipped(args.skip, args.only)
    started_at, started = datetime.now(UTC), time.perf_counter()
    report = Report()

    def progress(message: str) -> None:
        sys.stderr.write(f"[bench {time.perf_counter() - started:5.0f} s] {message}\n")

    capacity = None
    if "requests" not in args.skip:
        progress("requests per operation and write units (moto in-process)")
        events = 200 if args.quick else operations.EVENTS_PER_STREAM
        capacity = operations.run(report, events_per_stream=events)
    append_cpu = None
    if "overhead" not in args.skip:
        progress("handler overhead (stubbed DynamoDB)")
        figures = overhead.run(report, blocks=3 if args.quick else 15, per_block=100)
        append_cpu = figures["handler"]
    if "coldstart" not in args.skip:
        progress(f"cold start ({rounds} interleaved rounds of {len(coldstart.variants())} variants)")
        coldstart.run(report, rounds)
    if "throughput" not in args.skip:
        progress("local runtime throughput (three runtimes: empty, 10,000 events, --data-dir)")
        throughput.run(report, rounds=1 if args.quick else 3, appends_per_client=10 if args.quick else 20)
    if "contention" not in args.skip:
        progress('"any" appends by 1, 4, 8, 16 concurrent writers to one stream (local runtime)')
        contention.run(report, appends_per_writer=4 if args.quick else 12)
    if "feeds" not in args.skip:
        progress("feeds: replay of a 10,000-event type vs list + read, feed lag (local runtime)")
        feeds.run(report, rounds=1 if args.quick else 3, lag_samples=50 if args.quick else 200)
    if "cost" not in args.skip:
        _cost(report, capacity, append_cpu)
    _moto_sections(report, args.skip, quick=args.quick, progress=progress)
    seconds = time.perf_counter() - started
    sys.stdout.write(render(report) + "\n")
    options = {"quick": args.quick, "rounds": rounds, "skipped": args.skip}
    write_json(report, args.output, started=started_at, seconds=seconds, options=options)
    progress(f"done; wrote {args.output}")
    return 0


def _moto_sections(report: Report, skip: list[str], *, quick: bool, progress: Callable[[str], None]) -> None:
    """The sections that run the store on moto in-process."""
    if "erasure" not in skip:
        progress("erasure: KMS calls per 1,000 appends (1 and 1,000 subjects), sealing CPU (moto in-process)")
        erasure.run(report)
    if "snapshots" not in skip:
        progress(
            "snapshots: loading a 10,000-event stream from its start and from a snapshot (moto in-process)"
        )
        snapshots.run(report, events=2000 if quick else snapshots.EVENTS, rounds=2 if quick else 5)
    if "large-payloads" not in skip:
        progress("large payloads: write units, S3 requests and USD of a 1 MB event (moto in-process)")
        large_payloads.run(report)
    if "removal" not in skip:
        progress("removal: write units per removed event, S3 requests per archived span (moto in-process)")
        removal.run(report)


def _skipped(skip: list[str], only: list[str]) -> list[str]:
    """The sections left out: --only names the ones to run, --skip the ones not to."""
    return [section for section in SECTIONS if section not in only] if only else skip


def _cost(report: Report, capacity: operations.CapacityFigures | None, append_cpu: float | None) -> None:
    if capacity is None or append_cpu is None:
        report.add(
            Row("6 cost", "USD per million appends", None, note="needs the requests and overhead sections")
        )
        return
    cost.run(
        report,
        append_cpu_seconds=append_cpu,
        wru_worst=capacity.ours_per_commit,
        wru_coalesced=capacity.ours_coalesced,
        rru_per_append=capacity.rru_per_append,
    )


if __name__ == "__main__":
    raise SystemExit(main())
