"""Large payloads (issue 21): what one append of a 1 MB event costs (DynamoDB write units, S3 requests,
USD at list prices) and what reading it back costs, beside a small event's append, which must not change.

The store runs on moto in-process with moto's S3; requests are counted on the clients. Write units are
DynamoDB's rule (1 per started KB of the item, the index entry 1 more); read units a consistent Query's
(1 per started 4 KB). Prices: list prices, us-east-1, read on the date in bench/cost.py.
"""

from __future__ import annotations

import base64
import math
import os
import uuid
from collections import Counter
from typing import Any, Final

import boto3
from moto import mock_aws

from bench.cost import PRICES, PRICES_DATE
from bench.harness import REGION, function_environment
from bench.payloads import realistic_payload
from bench.report import Report, Row

SECTION = "8 large payloads"
LARGE_BYTES: Final = 1024 * 1024
S3_PUT_USD: Final = 0.005 / 1000
"""Amazon S3 pricing, S3 Standard, PUT/COPY/POST/LIST requests, us-east-1."""
S3_GET_USD: Final = 0.0004 / 1000
"""Amazon S3 pricing, S3 Standard, GET and all other requests, us-east-1."""
S3_GB_MONTH_USD: Final = 0.023
DYNAMODB_GB_MONTH_USD: Final = 0.25


def _counted(client: Any, calls: Counter[str]) -> Any:
    client.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
    return client


def _append_and_read(payload: Any) -> dict[str, Any]:
    """Requests, write units and read units of appending one event with this payload and reading it."""
    from eventstore.appends import NewEvent  # noqa: PLC0415 - the layer is on the path now
    from eventstore.commits import item_size  # noqa: PLC0415
    from eventstore.domain import Caller  # noqa: PLC0415
    from eventstore.dynamodb.store import DynamoEventStore  # noqa: PLC0415
    from eventstore.payloadbucket import S3PayloadObjects  # noqa: PLC0415
    from eventstore.table import create_table  # noqa: PLC0415

    caller = Caller("arn:aws:iam::123456789012:user/bench", "bench")
    with mock_aws():
        calls: Counter[str] = Counter()
        dynamodb = _counted(boto3.client("dynamodb", region_name=REGION), calls)
        s3 = _counted(boto3.client("s3", region_name=REGION), calls)
        create_table(dynamodb, "events")
        s3.create_bucket(Bucket="payloads")
        store = DynamoEventStore(dynamodb, "events", payloads=S3PayloadObjects(lambda: s3, "payloads"))
        stream_id = str(uuid.uuid4())
        store.create("doc", stream_id, [NewEvent(str(uuid.uuid4()), "Opened", None)], caller)
        calls.clear()
        store.append("doc", stream_id, 1, [NewEvent(str(uuid.uuid4()), "Scanned", payload)], caller)
        written = dict(calls)
        item = dynamodb.get_item(
            TableName="events", Key={"streamId": {"S": stream_id}, "revision": {"N": "2"}}
        )
        size = item_size(item["Item"])
        objects = s3.list_objects_v2(Bucket="payloads").get("Contents", [])
        calls.clear()
        page = store.read("doc", stream_id, 1, 100)
        assert page.events[0].payload == payload
        read = dict(calls)
    return {
        "written": written,
        "read": read,
        "item_bytes": size,
        "wru": math.ceil(size / 1024) + 1,  # the commit, and its listing-index entry
        "rru": math.ceil(size / 4096),
        "object_bytes": sum(o["Size"] for o in objects),
    }


def _usd(figures: dict[str, Any]) -> tuple[float, float]:
    """USD of one append and of one read of it."""
    wru, rru = PRICES["wru"].usd / 1e6, PRICES["rru"].usd / 1e6
    append = figures["wru"] * wru + figures["written"].get("PutObject", 0) * S3_PUT_USD
    read = figures["rru"] * rru + figures["read"].get("GetObject", 0) * S3_GET_USD
    return append, read


def run(report: Report) -> dict[str, Any]:
    with function_environment():
        large = _append_and_read({"scan": base64.b64encode(os.urandom(LARGE_BYTES * 3 // 4)).decode()})
        small = _append_and_read(realistic_payload(1))
    for name, figures in (("1 MB event", large), ("1 KB event", small)):
        append_usd, read_usd = _usd(figures)
        report.add(
            Row(
                SECTION,
                f"append of one {name}: DynamoDB write units",
                figures["wru"],
                "WRU",
                note=f"item {figures['item_bytes']:,} bytes; requests {figures['written']}; "
                f"S3 object {figures['object_bytes']:,} bytes; ${append_usd * 1e6:.2f} per million appends",
            )
        )
        report.add(
            Row(
                SECTION,
                f"read of one {name}: read units and requests",
                figures["rru"],
                "RRU",
                note=f"requests {figures['read']}; ${read_usd * 1e6:.2f} per million reads",
            )
        )
    storage = large["object_bytes"] / 2**30
    report.add(
        Row(
            SECTION,
            "storage of the 1 MB event per month",
            storage * S3_GB_MONTH_USD * 1e6,
            "USD per million events",
            note=f"S3 Standard ${S3_GB_MONTH_USD}/GB-month vs DynamoDB ${DYNAMODB_GB_MONTH_USD}/GB-month "
            f"(it would not fit an item anyway); prices read {PRICES_DATE}",
        )
    )
    return {"large": large, "small": small}
