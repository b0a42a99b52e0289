"""Scheduled Lambda (EventBridge): physically removes events no reader can see any more, archiving first."""

from __future__ import annotations

from typing import Any

from eventstore import observability
from eventstore.dynamodb.removal import scheduled_time
from eventstore.service import remover

REMOVER = remover()
TELEMETRY = observability.Telemetry()


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    observability.instrument_aws_sdk()
    report = REMOVER.run(scheduled_time(event))
    report.count(TELEMETRY)
    TELEMETRY.flush()
    return report.as_dict()
