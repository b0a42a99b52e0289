"""Handler overhead (item 4): CPU time per append through the append_event handler, against the same
DynamoDB calls (the Query and PutItem the handler makes, replayed) made bare through boto3. Both talk to
the same stub (bench.stub), so the ratio is the cost of our code: parsing, validation, the domain, the
response, logging and metrics. Blocks alternate; medians of the per-append CPU time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench import stub
from bench.harness import function_environment, quiet_stdout
from bench.report import Report, Row
from tests.support import load_handler

TARGET = 1.5


def _cpu_per_call(call: Callable[[], Any], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) / count


def measure(blocks: int, per_block: int) -> dict[str, float]:
    with function_environment():
        from eventstore import service  # noqa: PLC0415 - the layer is on the path now

        service.aws_session.cache_clear()  # a fresh session: only this run's stub on it
        session = service.aws_session()  # the handler's clients come from it
        events = session.get_component("event_emitter")
        stub.install(events)
        captured: list[tuple[str, dict[str, Any]]] = []

        def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
            captured.append((model.name, dict(params)))

        events.register("provide-client-params.dynamodb", capture)
        append = load_handler("append_event")
        bare = session.create_client("dynamodb", config=service.SDK_CONFIG)
        event = stub.invocation_event("append_event")
        with quiet_stdout():
            response = append.handler(event, None)
        if response["statusCode"] != 201:
            raise RuntimeError(f"the stubbed append failed: {response}")
        events.unregister("provide-client-params.dynamodb", capture)
        calls = [(getattr(bare, _snake(name)), params) for name, params in captured]

        def handler_call() -> None:
            append.handler(event, None)

        def bare_call() -> None:
            for method, params in calls:
                method(**params)

        results: dict[str, list[float]] = {"handler": [], "bare": []}
        with quiet_stdout():
            for _ in range(blocks):
                results["handler"].append(_cpu_per_call(handler_call, per_block))
                results["bare"].append(_cpu_per_call(bare_call, per_block))
        return {
            "handler": statistics.median(results["handler"]),
            "bare": statistics.median(results["bare"]),
            "calls": len(calls),
        }


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def run(report: Report, *, blocks: int = 7, per_block: int = 200) -> dict[str, float]:
    figures = measure(blocks, per_block)
    ratio = figures["handler"] / figures["bare"]
    report.add(
        Row(
            "4 overhead",
            "append handler CPU / bare boto3 CPU",
            ratio,
            "x",
            f"<= {TARGET}",
            ratio <= TARGET,
            f"{figures['handler'] * 1000:.2f} ms vs {figures['bare'] * 1000:.2f} ms CPU per append "
            f"({figures['calls']:.0f} DynamoDB calls, stubbed); {blocks}x{per_block} alternating",
        )
    )
    return figures
