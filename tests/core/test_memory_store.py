"""What only the in-memory reference store does (its contract is test_store_contract.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from eventstore.appends import NewEvent
from eventstore.domain import Caller
from eventstore.memory import MemoryEventStore

CALLER = Caller(principal=None, request_id=None)


def test_a_stopped_clock_still_stamps_every_commit_after_the_one_before() -> None:
    store = MemoryEventStore(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for stream_id in ids:
        store.create("crate", stream_id, [NewEvent(str(uuid.uuid4()), "Packed", None)], CALLER)
    store.append("crate", ids[0], 1, [NewEvent(str(uuid.uuid4()), "Sent", None)], CALLER)
    page = store.list_streams("crate", None, 10, None)
    assert [(s.stream_id, s.revision) for s in page.streams] == [(ids[1], 1), (ids[2], 1), (ids[0], 2)]
    stamps = [s.updated_at for s in page.streams]
    assert stamps == sorted(set(stamps))
    assert page.settled_until is not None
    assert page.settled_until > stamps[-1]  # a poll from the horizon lists only later commits
