"""Physical removal (issue 16): write units per removed event, S3 requests per archived span, and the cost
per million removed events, archive off and on.

The Remover runs on moto in-process over soft-deleted streams of single-event commits (a realistic
~1 KB payload that compresses below 1 KB, as appends store it) and of 10-event commits. Write units are
DynamoDB's rule for deletes: the item's size in KB rounded up, plus 1 for its listing-index entry (what the
Remover reports, from each item's size); read units from the bytes each consistent Query returned (4 KB per
unit, at least 1); S3 and DynamoDB requests are counted on the clients. Prices: bench/cost.py's, plus
S3 Standard requests (PUT $0.005, GET $0.0004 per 1,000; Amazon S3 pricing, 2026-11-27).
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from bench.cost import MILLION, PRICES, billed_ms, configured_memory_mb
from bench.harness import REGION, function_environment
from bench.report import Report, Row

SECTION = "8 removal"
STREAMS = 40
COMMITS_PER_STREAM = 25
S3_PUT_USD = 0.005 / 1000
S3_GET_USD = 0.0004 / 1000
_PAYLOAD = {
    "orderId": "4f1c2a9e-0000-4000-8000-000000000000",
    "lines": [{"sku": f"SKU-{n:04d}", "quantity": n % 5 + 1, "price": "19.90"} for n in range(12)],
    "shipTo": {"name": "Ada Lovelace", "street": "12 St James's Square", "city": "London"},
}
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _populate(dynamodb: Any, events_per_commit: int) -> None:
    from eventstore.appends import NewEvent  # noqa: PLC0415 - the layer is on the path now
    from eventstore.commits import encode_commit  # noqa: PLC0415
    from eventstore.domain import Caller  # noqa: PLC0415
    from eventstore.dynamodb.markers import listing_entry  # noqa: PLC0415
    from eventstore.retention import sweep_shard  # noqa: PLC0415
    from eventstore.table import layout  # noqa: PLC0415
    from eventstore.timefmt import format_instant  # noqa: PLC0415

    caller = Caller("arn:aws:iam::123456789012:role/bench", "bench")
    for _ in range(STREAMS):
        stream_id = str(uuid.uuid4())
        revision = 1
        for n in range(COMMITS_PER_STREAM):
            at = _T0 + timedelta(minutes=n)
            events = [NewEvent(str(uuid.uuid4()), "Placed", _PAYLOAD) for _ in range(events_per_commit)]
            item = encode_commit(
                "order",
                stream_id,
                revision,
                events,
                committed_at=format_instant(at),
                digest="d",
                caller=caller,
            )
            dynamodb.put_item(
                TableName="events", Item={**item, **listing_entry(layout(), "order", stream_id, revision, at)}
            )
            revision += events_per_commit
        last = revision - 1
        reserved: tuple[dict[str, Any], ...] = (
            {"revision": {"N": "0"}, "lastRevision": {"N": str(last)}, "fedRevision": {"N": str(last)}},
            {"revision": {"N": str(last + 1)}, "kind": {"S": "deleted"}, "lastRevision": {"N": str(last)}},
            {
                "revision": {"N": "-2"},
                "deletedBefore": {"N": str(last + 1)},
                "sweepShard": {"S": sweep_shard(stream_id)},
            },
        )
        for item in reserved:
            dynamodb.put_item(
                TableName="events",
                Item={
                    "streamId": {"S": stream_id},
                    "streamType": {"S": "order"},
                    "deletedAt": {"S": "2026-01-02T00:00:00.000000Z"},
                    **item,
                },
            )


def _measure(events_per_commit: int, *, archive: bool) -> dict[str, float]:
    from eventstore.archive import ArchiveWriter  # noqa: PLC0415 - the layer is on the path now
    from eventstore.commits import item_size  # noqa: PLC0415
    from eventstore.dynamodb.removal import Remover  # noqa: PLC0415
    from eventstore.table import create_table  # noqa: PLC0415

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        create_table(dynamodb, "events")
        s3.create_bucket(Bucket="archive")
        _populate(dynamodb, events_per_commit)
        requests: Counter[str] = Counter()
        read_units = 0.0

        def count(model: Any, **_: Any) -> None:
            requests[f"{model.service_model.service_name}:{model.name}"] += 1

        def query_units(parsed: Any, model: Any, **_: Any) -> None:
            nonlocal read_units
            if model.name == "Query":
                size = sum(item_size(item) for item in parsed.get("Items", []))
                read_units += max(1, math.ceil(size / 4096))

        dynamodb.meta.events.register("before-call.dynamodb.*", count)
        dynamodb.meta.events.register("after-call.dynamodb.*", query_units)
        s3.meta.events.register("before-call.s3.*", count)
        remover = Remover(
            dynamodb, "events", defaults={}, archive=ArchiveWriter(s3, "archive") if archive else None
        )
        started = time.process_time()
        report = remover.run(_T0 + timedelta(days=2))
        cpu = time.process_time() - started
    events = report.events_removed
    s3_puts = requests["s3:PutObject"]
    s3_gets = requests["s3:GetObject"]
    memory_mb, _ = configured_memory_mb()
    round_trips = sum(n for name, n in requests.items() if name.startswith("dynamodb:")) + s3_puts + s3_gets
    lambda_usd = billed_ms(cpu, memory_mb, round_trips) / 1000 * memory_mb / 1024 * PRICES["lambda_arm"].usd
    usd = (
        report.write_units * PRICES["wru"].usd / MILLION
        + read_units * PRICES["rru"].usd / MILLION
        + s3_puts * S3_PUT_USD
        + s3_gets * S3_GET_USD
        + lambda_usd
        + PRICES["lambda_requests"].usd / MILLION
    )
    return {
        "events": events,
        "wru_per_event": report.write_units / events,
        "rru_per_event": read_units / events,
        "s3_per_span": (s3_puts + s3_gets) / report.spans_archived if report.spans_archived else 0.0,
        "spans": report.spans_archived,
        "dynamodb_requests": sum(n for name, n in requests.items() if name.startswith("dynamodb:")),
        "usd_per_million": usd / events * MILLION,
    }


def run(report: Report) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with function_environment():
        for events_per_commit in (1, 10):
            for archive in (False, True):
                key = f"{events_per_commit}_per_commit_{'archive' if archive else 'no_archive'}"
                figures[key] = _measure(events_per_commit, archive=archive)
    single, single_archived = figures["1_per_commit_no_archive"], figures["1_per_commit_archive"]
    batched = figures["10_per_commit_no_archive"]
    report.add(
        Row(
            SECTION,
            "write units per removed event (1-event commits)",
            single["wru_per_event"],
            "WRU",
            note=f"the commit's delete (size in KB, rounded up) + its index entry; 10-event commits: "
            f"{batched['wru_per_event']:.2f}; read units {single['rru_per_event']:.2f} per event",
        )
    )
    report.add(
        Row(
            SECTION,
            "S3 requests per archived span",
            single_archived["s3_per_span"],
            "requests",
            note="PUT the span, GET it back (SHA-256), GET and PUT the stream's manifest; "
            f"a span is up to 100 commits ({single_archived['spans']} spans, "
            f"{single_archived['events']} events)",
        )
    )
    for key, label in (
        ("1_per_commit_no_archive", "1-event commits, no archive"),
        ("1_per_commit_archive", "1-event commits, archived"),
        ("10_per_commit_no_archive", "10-event commits, no archive"),
        ("10_per_commit_archive", "10-event commits, archived"),
    ):
        report.add(
            Row(
                SECTION,
                f"USD per million removed events ({label})",
                figures[key]["usd_per_million"],
                "USD",
                note="DynamoDB writes and reads, S3 requests (not storage), Lambda at us-east-1 list prices",
            )
        )
    return figures
