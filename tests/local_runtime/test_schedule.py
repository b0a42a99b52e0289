"""The local runtime's EventBridge schedule for remove_expired: Scheduled Events carrying the clock's time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from eventstore.dynamodb.removal import scheduled_time
from local_runtime.lambdas import LambdaContext
from local_runtime.schedule import RemovalSchedule

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Recorder:
    """A function that records the events it is invoked with."""

    name = "remove_expired"
    arn = "arn:aws:lambda:us-east-1:123456789012:function:remove_expired"
    exists = True

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.called = threading.Event()

    def warm_up(self) -> None:
        """Nothing to load."""

    def new_context(self) -> LambdaContext:
        raise NotImplementedError

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        assert context is None, "EventBridge's runs need no context of the caller's"
        self.events.append(event)
        self.called.set()
        return {"commits_removed": 0}


def test_runs_on_its_interval_with_the_clocks_time_and_at_a_moved_time_when_asked() -> None:
    function = Recorder()
    schedule = RemovalSchedule(
        function, 0.05, "us-east-1", "arn:aws:events:us-east-1:1:rule/r", clock=lambda: T0
    )
    schedule.start()
    try:
        assert function.called.wait(5)
    finally:
        schedule.stop()
    first = function.events[0]
    assert (first["source"], first["detail-type"]) == ("aws.events", "Scheduled Event")
    assert scheduled_time(first) == T0
    later = T0 + timedelta(days=2)
    schedule.run_once(later)
    assert scheduled_time(function.events[-1]) == later


def test_an_interval_of_zero_never_runs_on_its_own() -> None:
    function = Recorder()
    schedule = RemovalSchedule(
        function, 0, "us-east-1", "arn:aws:events:us-east-1:1:rule/r", clock=lambda: T0
    )
    schedule.start()
    schedule.stop()
    assert function.events == []
