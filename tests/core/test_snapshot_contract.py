"""The storage contract for snapshots (eventstore.store.SnapshotStore), run against every store like
test_store_contract.py: the memory store, and the DynamoDB store on moto in-process and on moto's server."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pytest

from eventstore.appends import NewEvent
from eventstore.domain import (
    Caller,
    DataSubjectErased,
    SnapshotBeyondStream,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotTooLarge,
    StreamDeleted,
    StreamNotFound,
)
from eventstore.snapshots import MAX_SNAPSHOT_BYTES, NewSnapshot
from eventstore.store import EventStore, FeedStore, SnapshotStore
from tests.core.test_store_contract import all_events, events, new_stream

CALLER = Caller(principal="arn:aws:iam::123456789012:user/tester", request_id="req-1")
STATE: Any = {"total": 42, "lines": [{"sku": "A", "qty": 2}], "note": "zürich ✓", "closed": None}


class Store(EventStore, FeedStore, SnapshotStore, Protocol):
    """Every store implements all three."""


def snap(revision: int, state: Any = STATE, snapshot_type: str = "order-v1", **extra: Any) -> NewSnapshot:
    return NewSnapshot(revision=revision, snapshot_type=snapshot_type, state=state, **extra)


def test_snapshot_round_trip(store: Store) -> None:
    stream_id = new_stream(store, count=3)
    written = store.put_snapshot("order", stream_id, snap(2))
    assert not written.replayed
    got = store.get_snapshot("order", stream_id)
    assert (got.revision, got.snapshot_type, got.state, got.data_subject) == (2, "order-v1", STATE, None)
    assert got.created_at == written.snapshot.created_at
    assert not got.state_erased
    for state in (None, "", [1, 2.5, None, True], {"x": "y" * 50_000}):
        store.put_snapshot("order", stream_id, snap(3, state, snapshot_type=f"t{len(str(state))}"))
        assert store.get_snapshot("order", stream_id).state == state
        stream_id = new_stream(store, count=3)


def test_a_newer_snapshot_replaces_an_older_one_never_the_reverse(store: Store) -> None:
    stream_id = new_stream(store, count=5)
    store.put_snapshot("order", stream_id, snap(2, {"n": 2}))
    store.put_snapshot("order", stream_id, snap(4, {"n": 4}))
    with pytest.raises(SnapshotConflict) as raised:
        store.put_snapshot("order", stream_id, snap(3, {"n": 3}))
    assert (raised.value.revision, raised.value.stored) == (3, 4)
    assert store.get_snapshot("order", stream_id).state == {"n": 4}


def test_the_same_snapshot_again_is_a_replay_another_at_the_same_revision_a_conflict(store: Store) -> None:
    stream_id = new_stream(store, count=2)
    first = store.put_snapshot("order", stream_id, snap(2))
    again = store.put_snapshot("order", stream_id, snap(2))
    assert again.replayed
    assert again.snapshot.created_at == first.snapshot.created_at
    for other in (snap(2, {"other": True}), snap(2, snapshot_type="order-v2")):
        with pytest.raises(SnapshotConflict) as raised:
            store.put_snapshot("order", stream_id, other)
        assert raised.value.stored == 2
    assert store.get_snapshot("order", stream_id).state == STATE


def test_a_snapshot_beyond_the_streams_revision_is_refused(store: Store) -> None:
    stream_id = new_stream(store, count=3)
    with pytest.raises(SnapshotBeyondStream) as raised:
        store.put_snapshot("order", stream_id, snap(4))
    assert raised.value.current == 3
    with pytest.raises(SnapshotNotFound):
        store.get_snapshot("order", stream_id)
    store.append("order", stream_id, 3, events("A"), CALLER)
    store.put_snapshot("order", stream_id, snap(4))
    assert store.get_snapshot("order", stream_id).revision == 4


def test_unknown_streams_and_other_types_have_no_snapshot(store: Store) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(StreamNotFound):
        store.put_snapshot("order", unknown, snap(1))
    with pytest.raises(SnapshotNotFound):
        store.get_snapshot("order", unknown)
    stream_id = new_stream(store, count=1)
    with pytest.raises(StreamNotFound):
        store.put_snapshot("invoice", stream_id, snap(1))
    store.put_snapshot("order", stream_id, snap(1))
    with pytest.raises(SnapshotNotFound):
        store.get_snapshot("invoice", stream_id)


def test_a_snapshot_larger_than_an_item_is_refused_naming_the_limit(store: Store) -> None:
    stream_id = new_stream(store)
    # Random base64 compresses to about 3/4 of its length: still 1.2 items once stored.
    state = base64.b64encode(os.urandom(MAX_SNAPSHOT_BYTES * 6 // 5)).decode()
    with pytest.raises(SnapshotTooLarge, match=str(MAX_SNAPSHOT_BYTES)):
        store.put_snapshot("order", stream_id, snap(1, state))
    with pytest.raises(SnapshotNotFound):
        store.get_snapshot("order", stream_id)
    # A large state that compresses well fits: it is stored compressed.
    roomy = {"rows": [{"sku": f"A{n % 7}", "qty": 1} for n in range(40_000)]}
    store.put_snapshot("order", stream_id, snap(1, roomy))
    assert store.get_snapshot("order", stream_id).state == roomy


def test_a_data_subjects_snapshot_is_erased_with_the_subject(store: Store) -> None:
    subject = f"person-{uuid.uuid4()}"
    stream_id = new_stream(store, count=2)
    store.put_snapshot("order", stream_id, snap(1, {"name": "Ada"}, data_subject=subject))
    got = store.get_snapshot("order", stream_id)
    assert (got.state, got.data_subject, got.state_erased) == ({"name": "Ada"}, subject, False)
    store.erase_data_subject(subject, CALLER)
    erased = store.get_snapshot("order", stream_id)
    assert (erased.state, erased.state_erased, erased.revision, erased.data_subject) == (
        None,
        True,
        1,
        subject,
    )
    with pytest.raises(DataSubjectErased):
        store.put_snapshot("order", stream_id, snap(2, {"name": "Ada"}, data_subject=subject))
    assert store.get_snapshot("order", stream_id).revision == 1
    # Another subject's snapshot, or one without a subject, may replace it.
    store.put_snapshot("order", stream_id, snap(2, {"name": None}))
    assert store.get_snapshot("order", stream_id).state == {"name": None}


def test_a_sealed_snapshot_is_replayed_by_its_retry(store: Store) -> None:
    subject = f"person-{uuid.uuid4()}"
    stream_id = new_stream(store, count=1)
    sent = snap(1, {"name": "Grace"}, data_subject=subject)
    assert not store.put_snapshot("order", stream_id, sent).replayed
    assert store.put_snapshot("order", stream_id, sent).replayed
    with pytest.raises(SnapshotConflict):
        store.put_snapshot("order", stream_id, snap(1, {"name": "Grace"}, data_subject=f"{subject}-2"))


def fold(state: dict[str, Any], event: Any) -> dict[str, Any]:
    return {"count": state["count"] + 1, "sum": state["sum"] + event.payload["n"], "last": event.event_type}


def load(store: Store, stream_id: str, *, use_snapshot: bool) -> tuple[int, dict[str, Any]]:
    state, after = {"count": 0, "sum": 0, "last": None}, 0
    if use_snapshot:
        snapshot = store.get_snapshot("order", stream_id)
        state, after = snapshot.state, snapshot.revision
    for event in all_events(store, "order", stream_id)[after:]:
        state, after = fold(state, event), event.revision
    return after, state


def test_load_with_and_without_a_snapshot_is_equal(store: Store) -> None:
    stream_id = str(uuid.uuid4())
    store.create("order", stream_id, [NewEvent(str(uuid.uuid4()), "E0", {"n": 0})], CALLER)
    for n in range(1, 60, 3):
        batch = [NewEvent(str(uuid.uuid4()), f"E{n + k}", {"n": n + k}) for k in range(3)]
        store.append("order", stream_id, n, batch, CALLER)
    plain = load(store, stream_id, use_snapshot=False)
    assert plain[0] == 61
    # A snapshot inside a multi-event append and one at the head both load the same state.
    for revision in (17, 61):
        state = {"count": 0, "sum": 0, "last": None}
        for event in all_events(store, "order", stream_id)[:revision]:
            state = fold(state, event)
        store.put_snapshot("order", stream_id, snap(revision, state))
        assert load(store, stream_id, use_snapshot=True) == plain


def test_snapshots_are_not_events(
    fed: tuple[Store, Callable[[], None]],
) -> None:
    store, bring_feeds_up_to_date = fed
    stream_id = new_stream(store, count=2)
    before = all_events(store, "order", stream_id)
    store.put_snapshot("order", stream_id, snap(2))
    bring_feeds_up_to_date()
    assert all_events(store, "order", stream_id) == before
    assert store.describe("order", stream_id).revision == 2
    listed = store.list_streams("order", None, 1000, None).streams
    assert [s.revision for s in listed if s.stream_id == stream_id] == [2]
    fed_events = [e for e in store.read_feed("order", None, 1000).events if e.stream_id == stream_id]
    assert [e.revision for e in fed_events] == [1, 2]


def test_racing_writers_leave_the_newest_snapshot(store: Store) -> None:
    stream_id = new_stream(store, count=16)

    def put(revision: int) -> tuple[int, int | None]:
        """The revision, and the stored one that refused it (None: written or replayed)."""
        try:
            store.put_snapshot("order", stream_id, snap(revision, {"n": revision}))
        except SnapshotConflict as conflict:
            return revision, conflict.stored
        return revision, None

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(put, [3, 16, 1, 9, 12, 5, 16, 2, 14, 7, 11, 4, 15, 6, 13, 8]))
    assert store.get_snapshot("order", stream_id).state == {"n": 16}
    assert (16, None) in outcomes
    assert all(stored > revision for revision, stored in outcomes if stored is not None)


def test_a_snapshot_goes_with_its_deleted_stream_and_none_is_put_on_one(store: Store) -> None:
    """A restarted stream never loads a state folded from events it no longer shows; a tombstoned one
    takes no snapshot."""
    stream_id = new_stream(store, count=3)
    store.put_snapshot("order", stream_id, snap(3))
    store.delete("order", stream_id, 3, "soft")
    with pytest.raises(SnapshotNotFound):
        store.get_snapshot("order", stream_id)
    with pytest.raises(StreamNotFound):
        store.put_snapshot("order", stream_id, snap(3))
    store.append("order", stream_id, 3, events("Reopened"), CALLER)  # the restart: revision 4
    with pytest.raises(SnapshotBeyondStream):
        store.put_snapshot("order", stream_id, snap(5))
    store.put_snapshot("order", stream_id, snap(4))
    store.delete("order", stream_id, None, "tombstone")
    with pytest.raises(SnapshotNotFound):
        store.get_snapshot("order", stream_id)
    with pytest.raises(StreamDeleted):
        store.put_snapshot("order", stream_id, snap(4))
