"""Snapshots (issue 21): loading a 10,000-event stream from its first event and from a snapshot.

The store runs on moto in-process. A load reads the stream's events a page (1,000 events) at a time and
folds them; with a snapshot it first reads the snapshot (one eventually consistent GetItem) and then only
the events after it. Read units are computed from the bytes each response returned, as DynamoDB bills them:
a consistent Query 1 RRU per 4 KB of items read, an eventually consistent GetItem 0.5 per 4 KB. Times are
moto's (in-process, no network): they show the work a load does, not AWS latency; the request counts and
read units are what AWS would see.
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

import boto3
from moto import mock_aws

from bench.harness import REGION, function_environment
from bench.payloads import realistic_payload
from bench.report import Report, Row

if TYPE_CHECKING:
    from eventstore.dynamodb.store import DynamoEventStore

SECTION: Final = "8 snapshots"
EVENTS: Final = 10_000
PER_APPEND: Final = 10
"""Events per append: 1,000 commits of ten 1 KB events (the read units depend on the bytes, not on how the
events were grouped)."""
SNAPSHOT_LAG: Final = 50
"""Events appended after the snapshot: a load reads the snapshot and these (snapshot_every=100 leaves 0
to 99, 50 on average)."""
RRU_USD_PER_MILLION: Final = 0.125
"""On-demand read request units, us-east-1 list price (bench/cost.py's table)."""
_BLOCK: Final = 4096


class ReadMeter:
    """Requests and read units of the calls made through one client, from what each response returned."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.read_units = 0.0
        client.meta.events.register("after-call.dynamodb.Query", self._query)
        client.meta.events.register("after-call.dynamodb.GetItem", self._get_item)

    def reset(self) -> None:
        self.requests, self.read_units = 0, 0.0

    def _query(self, parsed: Any, **_: Any) -> None:
        from eventstore.commits import item_size  # noqa: PLC0415 - the layer is on the path now

        self.requests += 1
        size = sum(item_size(item) for item in parsed.get("Items", []))
        self.read_units += max(1, math.ceil(size / _BLOCK))

    def _get_item(self, parsed: Any, **_: Any) -> None:
        from eventstore.commits import item_size  # noqa: PLC0415

        self.requests += 1
        item = parsed.get("Item")
        self.read_units += 0.5 * max(1, math.ceil(item_size(item) / _BLOCK)) if item else 0.5


def fold(state: dict[str, Any], event: Any) -> dict[str, Any]:
    """A typical aggregate: counters and the latest values a command handler checks."""
    payload = event.payload
    return {
        "events": state["events"] + 1,
        "lines": state["lines"] + len(payload["lines"]),
        "lastOrder": payload["orderId"],
        "currency": payload["currency"],
    }


INITIAL: Final[dict[str, Any]] = {"events": 0, "lines": 0, "lastOrder": None, "currency": None}


def load(store: DynamoEventStore, stream_id: str, *, snapshot: bool) -> tuple[int, dict[str, Any]]:
    state, after = INITIAL, 0
    if snapshot:
        found = store.get_snapshot("order", stream_id)
        state, after = found.state, found.revision
    while True:
        page = store.read("order", stream_id, after, 1000)
        for event in page.events:
            state = fold(state, event)
        after = page.last_evaluated_revision
        if not page.has_more:
            return after, state


def run(report: Report, *, events: int = EVENTS, rounds: int = 5) -> None:
    with function_environment():
        _run(report, events=events, rounds=rounds)


def _run(report: Report, *, events: int, rounds: int) -> None:
    from eventstore.appends import NewEvent  # noqa: PLC0415 - the layer is on the path now
    from eventstore.domain import Caller  # noqa: PLC0415
    from eventstore.dynamodb.store import DynamoEventStore  # noqa: PLC0415
    from eventstore.snapshots import NewSnapshot  # noqa: PLC0415
    from eventstore.table import create_table  # noqa: PLC0415

    caller = Caller("arn:aws:iam::123456789012:user/bench", "bench")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, "events")
        store = DynamoEventStore(client, "events")
        stream_id = str(uuid.uuid4())

        def batch(first: int, count: int) -> list[NewEvent]:
            return [
                NewEvent(str(uuid.uuid4()), "OrderNoted", realistic_payload(first + n)) for n in range(count)
            ]

        store.create("order", stream_id, batch(1, PER_APPEND), caller)
        for first in range(PER_APPEND + 1, events + 1, PER_APPEND):
            store.append("order", stream_id, first - 1, batch(first, PER_APPEND), caller)
        meter = ReadMeter(client)

        def measure(*, snapshot: bool) -> tuple[float, int, float, dict[str, Any]]:
            times: list[float] = []
            for _ in range(rounds):
                meter.reset()
                started = time.perf_counter()
                _, state = load(store, stream_id, snapshot=snapshot)
                times.append(time.perf_counter() - started)
            return statistics.median(times), meter.requests, meter.read_units, state

        full_time, full_requests, full_units, full_state = measure(snapshot=False)
        revision = events - SNAPSHOT_LAG
        state = INITIAL
        for event in [e for page in _pages(store, stream_id, revision) for e in page]:
            state = fold(state, event)
        store.put_snapshot("order", stream_id, NewSnapshot(revision, "order-v1", state))
        snap_time, snap_requests, snap_units, snap_state = measure(snapshot=True)
        if snap_state != full_state:
            raise AssertionError("a load from the snapshot folded another state than a full load")
        meter.reset()
        store.get_snapshot("order", stream_id)
        get_units = meter.read_units

    note = f"{events:,} events of 1 KB, moto in-process, median of {rounds}"
    rows = [
        Row(SECTION, "full load: time", full_time * 1000, "ms", note=note),
        Row(SECTION, "full load: requests", full_requests, note="Query, 1,000 events a page"),
        Row(SECTION, "full load: read units", full_units, "RRU", note="consistent Queries, 4 KB per RRU"),
        Row(
            SECTION,
            "snapshot load: time",
            snap_time * 1000,
            "ms",
            note=f"snapshot {SNAPSHOT_LAG} events behind",
        ),
        Row(SECTION, "snapshot load: requests", snap_requests, note="1 GetItem + 1 Query"),
        Row(SECTION, "snapshot load: read units", snap_units, "RRU", note="GetItem eventually consistent"),
        Row(SECTION, "snapshot GetItem", get_units, "RRU", note="the extra read per load (a small state)"),
        Row(
            SECTION,
            "saved per million loads",
            (full_units - snap_units) * RRU_USD_PER_MILLION,
            "USD",
            note=f"at ${RRU_USD_PER_MILLION} per million RRU; the GetItem costs "
            f"${get_units * RRU_USD_PER_MILLION:g} of it",
        ),
    ]
    for row in rows:
        report.add(row)


def _pages(store: DynamoEventStore, stream_id: str, until: int) -> list[list[Any]]:
    pages, after = [], 0
    while after < until:
        page = store.read("order", stream_id, after, min(1000, until - after))
        pages.append(list(page.events))
        after = page.last_evaluated_revision
    return pages
