"""RFC 3339 instants as the store writes them: UTC, microseconds, fixed width (so they sort as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    """Parse an RFC 3339 date-time (any offset, optional fraction); raise ValueError otherwise."""
    if "T" not in text.upper() or len(text) < len("2000-01-01T00:00:00Z"):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    parsed = datetime.fromisoformat(text.upper())
    if parsed.tzinfo is None:
        raise ValueError(f"an RFC 3339 date-time needs an offset or Z: {text!r}")
    return parsed.astimezone(UTC)
