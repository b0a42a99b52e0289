"""RFC 3339 instants as the store writes them: UTC, microseconds, fixed width (so they sort as text)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def format_instant(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    # Explicit widths: strftime's %Y does not pad years before 1000, which would break text ordering.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def parse(text: str) -> datetime:
    """Parse an RFC 3339 date-time (any offset, optional fraction) into UTC; raise ValueError otherwise.

    Instants beyond datetime's range in UTC (9999-12-31T23:59:59-01:00) become its first or last one."""
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 date-time (such as 2026-11-27T13:33:40Z): {text[:60]!r}")
    head, _, rest = text.upper().partition(".")
    if rest:
        # Python parses at most microseconds: drop finer digits, keep the offset.
        digits = re.match(r"\d+", rest)
        assert digits is not None
        rest = rest[: min(6, digits.end())] + rest[digits.end() :]
        head = f"{head}.{rest}"
    local = datetime.fromisoformat(head)
    try:
        return local.astimezone(UTC)
    except OverflowError:
        # In UTC the instant is before year 1 or after year 9999: it is before or after every instant the
        # store writes, and so is the first or last one datetime holds.
        if local.year == 1:
            return datetime(1, 1, 1, tzinfo=UTC)
        return datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
