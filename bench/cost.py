"""Cost per million appends (item 6) at us-east-1 list prices, from the figures measured above.

Prices are the public list prices, on-demand, no free tier, first pricing tier; each row names its source
(the AWS pricing page) and the date it was read. Duration is the measured CPU time of an append in our
handler (item 4, this machine) scaled to the CPU share Lambda gives the configured memory (1,769 MB is one
vCPU), plus the DynamoDB round trips at an assumed latency; Lambda bills per started millisecond.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bench.harness import ROOT
from bench.report import Report, Row

PRICES_DATE = "2026-11-27"
MILLION = 1_000_000
FULL_VCPU_MB = 1769
DYNAMODB_ROUND_TRIP_MS = 5.0
"""Assumed, not measured: single-digit-millisecond DynamoDB latency inside the region."""


@dataclass(frozen=True, slots=True)
class Price:
    item: str
    usd: float
    per: str
    source: str


PRICES = {
    "api": Price(
        "API Gateway REST API requests", 3.50, "million requests", "Amazon API Gateway pricing (REST APIs)"
    ),
    "lambda_requests": Price("Lambda requests", 0.20, "million requests", "AWS Lambda pricing"),
    "lambda_arm": Price("Lambda duration, arm64", 0.0000133334, "GB-second", "AWS Lambda pricing (Arm)"),
    "wru": Price("DynamoDB write request units", 0.625, "million WRU", "Amazon DynamoDB pricing, on-demand"),
    "rru": Price("DynamoDB read request units", 0.125, "million RRU", "Amazon DynamoDB pricing, on-demand"),
    "sns": Price("SNS publish requests (standard)", 0.50, "million requests", "Amazon SNS pricing"),
}


def configured_memory_mb() -> tuple[int, str]:
    variables = ROOT / "terraform" / "variables.tf"
    if variables.exists():
        found = re.search(
            r'variable "lambda_memory_mb"\s*{[^}]*?default\s*=\s*(\d+)', variables.read_text(), re.DOTALL
        )
        if found:
            return int(found.group(1)), "terraform/variables.tf lambda_memory_mb"
    return 512, "assumed (terraform/variables.tf has no lambda_memory_mb)"


def billed_ms(cpu_seconds: float, memory_mb: int, round_trips: int) -> int:
    share = min(1.0, memory_mb / FULL_VCPU_MB)
    return math.ceil(cpu_seconds * 1000 / share + round_trips * DYNAMODB_ROUND_TRIP_MS)


def run(
    report: Report,
    *,
    append_cpu_seconds: float,
    wru_worst: float,
    wru_coalesced: float,
    rru_per_append: float,
    dynamodb_round_trips: int = 2,
) -> None:
    memory, memory_source = configured_memory_mb()
    append_ms = billed_ms(append_cpu_seconds, memory, dynamodb_round_trips)
    # notify_stream at worst runs once per append (a batch of one record): UpdateItem + PublishBatch.
    notify_ms = billed_ms(append_cpu_seconds, memory, 2)
    gb_seconds = (append_ms + notify_ms) / 1000 * memory / 1024
    lines = [
        ("api", 1.0, "1 request per append"),
        ("lambda_requests", 2.0, "append_event + notify_stream (batch of 1)"),
        ("lambda_arm", gb_seconds * MILLION / MILLION, f"{append_ms}+{notify_ms} ms billed at {memory} MB"),
        ("wru", wru_worst, "item 3, notify cursor advanced per commit"),
        ("rru", rru_per_append, "append: Query of the newest commit; notify: cursor read"),
        ("sns", 1.0, "1 notification per append (<= 64 KB)"),
    ]
    table = []
    total = 0.0
    for key, quantity, basis in lines:
        price = PRICES[key]
        per_unit = price.usd / MILLION if price.per.startswith("million") else price.usd
        usd = quantity * MILLION * per_unit
        total += usd
        table.append(
            {
                "item": price.item,
                "per append": f"{quantity:g}",
                "price": f"${price.usd:g} per {price.per}",
                "USD per 1M appends": f"{usd:.2f}",
                "basis": basis,
                "source (date read)": f"{price.source} ({PRICES_DATE})",
            }
        )
    coalesced = total - (wru_worst - wru_coalesced) * PRICES["wru"].usd
    table.append(
        {
            "item": "total",
            "per append": "",
            "price": "",
            "USD per 1M appends": f"{total:.2f}",
            "basis": f"{coalesced:.2f} with notify coalescing (WRU {wru_coalesced:g})",
            "source (date read)": f"memory: {memory_source}",
        }
    )
    report.tables["6 cost per million appends, us-east-1 list prices"] = table
    report.add(
        Row(
            "6 cost",
            "USD per million appends",
            total,
            "USD",
            note=f"{coalesced:.2f} with coalescing; API Gateway is {3.5 / total:.0%}; table below",
        )
    )
