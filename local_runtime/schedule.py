"""EventBridge's schedule for remove_expired: invokes it every interval with a Scheduled Event.

The event's `time` is the run's "now" (eventstore.dynamodb.removal.scheduled_time), taken from `clock`,
so tests move time by calling `run_once` with another instant instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventstore.timefmt import format_instant

if TYPE_CHECKING:
    from local_runtime.lambdas import Function

log = logging.getLogger(__name__)


def scheduled_event(now: datetime, region: str, rule_arn: str) -> dict[str, Any]:
    """The Scheduled Event EventBridge sends a rule's target (its `time` is second-precision there)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": format_instant(now),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class RemovalSchedule:
    """Runs the function every `interval_seconds` (0: never on its own; `run_once` still works)."""

    def __init__(
        self,
        function: Function,
        interval_seconds: float,
        region: str,
        rule_arn: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._function = function
        self._interval = interval_seconds
        self._region = region
        self._rule_arn = rule_arn
        self._clock = clock
        self._lock = threading.Lock()  # one run at a time, as the function's schedule target
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="removal-schedule", daemon=True)

    def start(self) -> None:
        if self._interval > 0 and self._function.exists:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def run_once(self, now: datetime | None = None) -> Any:
        """One run at `now` (default: the clock); returns the function's report."""
        with self._lock:
            event = scheduled_event(now or self._clock(), self._region, self._rule_arn)
            return self._function.invoke(event)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                report = self.run_once()
            except Exception:
                log.exception("the removal run failed; the next one tries again")
                continue
            if report.get("commits_removed"):
                log.info("removal: %s", report)
