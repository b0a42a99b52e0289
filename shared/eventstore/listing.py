"""What listing streams returns: apart from domain.py, so that only list_streams creates it at init
(docs/design.md, "Cold start")."""

from __future__ import annotations

from dataclasses import dataclass

from eventstore.domain import StreamState


@dataclass(frozen=True, slots=True)
class StreamPage:
    streams: tuple[StreamState, ...]
    has_more: bool
    next_page_key: str | None
    settled_until: str | None
    """The listing's horizon: once a listing ends, every update at or before it is in it (at that revision
    or a newer one). Later updates are listed as far as the index shows them already, and again later:
    pollers pass this, not the newest `updatedAt` they saw, as the next `updated-after`. None: the listing
    starts after the end of time."""
