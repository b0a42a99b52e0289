"""Lambda behind `GET /liveness-check`: answers without touching DynamoDB."""

from __future__ import annotations

from typing import Any

from eventstore import http
from eventstore.api import liveness


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return http.handle(event, {"livenessCheck": liveness.liveness_check})
