"""The liveness check: answers without the store."""

from __future__ import annotations

from datetime import UTC, datetime

from eventstore import timefmt
from eventstore.http import Request, Response


def liveness_check(_request: Request) -> Response:
    return Response(200, {"status": "ok", "at": timefmt.format_instant(datetime.now(UTC))})
