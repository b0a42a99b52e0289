"""The store end to end, like the original service's end-to-end test, extended: the same tests run against
the local runtime and a deployed stack (see conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import urllib3

from eventstore_client import (
    EventStoreClient,
    NewEvent,
    Notification,
    NotificationConsumer,
    SnapshotConflict,
    StreamAlreadyExists,
    StreamNotFound,
    WrongExpectedRevision,
)
from tests.e2e.conftest import Subscription, Target

NOTIFICATION_TIMEOUT = 60.0
LISTING_TIMEOUT = 30.0


def receive_until(subscription: Subscription, revision: int) -> list[Notification]:
    """Notifications from the queue until one reaches `revision`; each is deleted once recorded."""
    consumer = NotificationConsumer(subscription.queue_url, subscription.sqs, wait_time_seconds=2)
    received: list[Notification] = []
    deadline = time.monotonic() + NOTIFICATION_TIMEOUT
    while time.monotonic() < deadline:
        for delivery in consumer.receive():
            with delivery as notification:
                received.append(notification)
        if any(n.to_revision >= revision for n in received):
            return received
    pytest.fail(f"no notification up to revision {revision} within {NOTIFICATION_TIMEOUT}s: {received}")


def test_create_append_notify_read_details_list(
    store: EventStoreClient, stream_type: str, subscribed_queue: Subscription
) -> None:
    store.create_stream(f"{stream_type}.other", NewEvent("Ignored"))  # filtered out by the subscription
    placed = NewEvent("OrderPlaced", {"sku": "A1", "quantity": 2}, {"correlationId": "order-1"})
    created = store.create_stream(stream_type, placed)
    paid, packed = NewEvent("OrderPaid", "paid in full"), NewEvent("OrderPacked", {"box": 3})
    appended = store.append(stream_type, created.stream_id, [paid, packed], expected_revision=1)
    assert (created.revision, appended.revision, appended.replayed) == (1, 3, False)

    notifications = receive_until(subscribed_queue, 3)
    assert {n.stream_type for n in notifications} == {stream_type}
    notified = sorted({(e.revision, e.event_id, e.event_type) for n in notifications for e in n.events})
    assert notified == [
        (1, placed.event_id, "OrderPlaced"),
        (2, paid.event_id, "OrderPaid"),
        (3, packed.event_id, "OrderPacked"),
    ]

    events = list(store.read_events(stream_type, created.stream_id))
    assert [(e.revision, e.event_id, e.event_type, e.payload) for e in events] == [
        (1, placed.event_id, "OrderPlaced", {"sku": "A1", "quantity": 2}),
        (2, paid.event_id, "OrderPaid", "paid in full"),
        (3, packed.event_id, "OrderPacked", {"box": 3}),
    ]
    assert events[0].metadata["correlationId"] == "order-1"
    assert "principal" in events[0].metadata  # recorded by the server from the SigV4 identity

    details = store.get_stream(stream_type, created.stream_id)
    assert (details.revision, details.stream_type) == (3, stream_type)

    listed = poll_listing(store, stream_type, lambda streams: streams.get(created.stream_id) == 3)
    assert listed == {created.stream_id: 3}


def poll_listing(store: EventStoreClient, stream_type: str, done: Any) -> dict[str, int]:
    """The listing is maintained from notifications: it catches up within a few seconds."""
    deadline = time.monotonic() + LISTING_TIMEOUT
    while True:
        streams = {s.stream_id: s.revision for s in store.list_streams(stream_type)}
        if done(streams) or time.monotonic() > deadline:
            return streams
        time.sleep(0.5)


def test_listing_pages_and_filters_by_update_time(store: EventStoreClient, stream_type: str) -> None:
    ids = [store.create_stream(stream_type, NewEvent("Placed")).stream_id for _ in range(5)]

    listed = poll_listing(store, stream_type, lambda streams: len(streams) == 5)
    paged = [s.stream_id for s in store.list_streams(stream_type, page_size=2)]

    assert set(listed) == set(ids)
    assert sorted(paged) == sorted(ids)
    newest = max(store.list_streams(stream_type), key=lambda s: s.updated_at)
    later = [s.stream_id for s in store.list_streams(stream_type, updated_after=newest.updated_at)]
    assert newest.stream_id not in later


def test_conflicts_carry_the_current_revision(store: EventStoreClient, stream_type: str) -> None:
    stream_id = store.create_stream(stream_type, [NewEvent("Placed"), NewEvent("Paid")]).stream_id

    with pytest.raises(WrongExpectedRevision) as stale:
        store.append(stream_type, stream_id, NewEvent("Late"), expected_revision=1)
    with pytest.raises(WrongExpectedRevision) as wrong_put:
        store.append(stream_type, stream_id, NewEvent("Late"), revision=2)
    with pytest.raises(StreamAlreadyExists) as exists:
        store.create_stream(stream_type, NewEvent("Again"), stream_id=stream_id)
    with pytest.raises(StreamNotFound):
        store.get_stream(f"{stream_type}.other", stream_id)

    assert stale.value.current_revision == 2
    assert wrong_put.value.status == 409
    assert exists.value.current_revision == 2
    assert store.get_stream(stream_type, stream_id).revision == 2


def test_retrying_with_the_same_event_ids_is_a_replay(store: EventStoreClient, stream_type: str) -> None:
    first = [NewEvent("Placed", {"n": 1})]
    created = store.create_stream(stream_type, first)
    again = store.create_stream(stream_type, first)  # no stream id: derived from the first event id
    batch = [NewEvent("Paid"), NewEvent("Packed")]
    appended = store.append(stream_type, created.stream_id, batch, expected_revision=1)
    store.append(stream_type, created.stream_id, NewEvent("Shipped"), expected_revision=3)
    late_retry = store.append(stream_type, created.stream_id, batch, expected_revision=1)

    assert (again.stream_id, again.replayed) == (created.stream_id, True)
    assert appended.replayed is False
    assert (late_retry.replayed, late_retry.revision) == (True, 3)
    assert [e.event_type for e in store.read_events(stream_type, created.stream_id)] == [
        "Placed",
        "Paid",
        "Packed",
        "Shipped",
    ]


class LosesFirstAnswer(urllib3.PoolManager):
    """The request reaches the server, the answer never reaches us: what a timeout looks like."""

    lost = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        response = super().request(method, url, *args, **kwargs)
        if method == "POST" and not self.lost:
            self.lost += 1
            raise urllib3.exceptions.ReadTimeoutError(None, url, "answer lost")  # type: ignore[arg-type]
        return response


def test_the_clients_automatic_retry_after_a_lost_answer_is_replayed(
    target: Target, stream_type: str
) -> None:
    with target.client(http=LosesFirstAnswer()) as client:
        created = client.create_stream(stream_type, [NewEvent("Placed"), NewEvent("Paid")])

    assert (created.replayed, created.revision) == (True, 2)
    with target.client() as client:
        assert [e.event_id for e in client.read_events(stream_type, created.stream_id)] == list(
            created.event_ids
        )


def test_paging_over_thousands_of_events(store: EventStoreClient, stream_type: str) -> None:
    total, batch = 2500, 100
    stream_id = store.create_stream(
        stream_type, [NewEvent("Counted", {"n": n}) for n in range(1, batch + 1)]
    ).stream_id
    for start in range(batch, total, batch):
        events = [NewEvent("Counted", {"n": n}) for n in range(start + 1, start + batch + 1)]
        store.append(stream_type, stream_id, events, expected_revision=start)

    # Ten and three pages: each page costs the local emulator about half a second, whatever its size.
    default_pages = [e.payload["n"] for e in store.read_events(stream_type, stream_id, page_size=250)]
    big_pages = [e.revision for e in store.read_events(stream_type, stream_id, page_size=1000)]
    tail = [e.revision for e in store.read_events(stream_type, stream_id, after_revision=2490, page_size=7)]

    assert default_pages == list(range(1, total + 1))
    assert big_pages == list(range(1, total + 1))
    assert tail == list(range(2491, 2501))
    assert store.get_stream(stream_type, stream_id).revision == total


def test_a_sealed_snapshot_loads_a_stream_and_is_no_event(
    store: EventStoreClient, stream_type: str, subscribed_queue: Subscription
) -> None:
    subject = f"e2e-{stream_type}"
    created = store.create_stream(stream_type, [NewEvent("Counted", {"n": n}) for n in range(1, 6)])

    def add(total: int, event: Any) -> int:
        return total + int(event.payload["n"])

    first = store.load(
        stream_type, created.stream_id, 0, add, snapshot_type="sum-v1", snapshot_every=5, data_subject=subject
    )
    assert (first.state, first.snapshot_written) == (15, True)
    store.append(stream_type, created.stream_id, NewEvent("Counted", {"n": 6}), expected_revision=5)
    again = store.load(stream_type, created.stream_id, 0, add, snapshot_type="sum-v1")
    assert (again.state, again.snapshot_revision, again.events_read) == (21, 5, 1)
    snapshot = store.get_snapshot(stream_type, created.stream_id)
    assert (snapshot.state, snapshot.data_subject) == (15, subject)
    with pytest.raises(SnapshotConflict):
        store.put_snapshot(stream_type, created.stream_id, 4, "sum-v1", 10)
    # Notified up to revision 6: commits only, the snapshot (written between them) never.
    notified = receive_until(subscribed_queue, 6)
    assert sorted({e.revision for n in notified for e in n.events}) == [1, 2, 3, 4, 5, 6]
