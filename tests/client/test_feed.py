"""The client's feeds, checkpoints and Subscriber, and the CLI's `feed` and `checkpoint`, against the fake API
(the memory store, which writes the feeds right after each commit)."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import pytest

from eventstore_client import (
    Backoff,
    CheckpointConflict,
    CheckpointNotFound,
    EventStoreClient,
    FeedEvent,
    InvalidRequest,
    NewEvent,
    Subscriber,
)
from tests.client.test_cli import run

if TYPE_CHECKING:
    from tests.client.fakeserver import FakeServer

FAST = Backoff(initial=0.01, maximum=0.05)


def _fill(
    client: EventStoreClient, streams: int = 3, events: int = 4, stream_type: str = "Order"
) -> list[str]:
    """Appends round-robin over the streams, so the feed interleaves them; returns the stream ids."""
    ids = [
        client.create_stream(stream_type, NewEvent("Opened", {"n": 0, "stream": s})).stream_id
        for s in range(streams)
    ]
    for revision in range(1, events):
        for s, stream_id in enumerate(ids):
            kind = "Paid" if revision % 2 else "Shipped"
            client.append(
                stream_type, stream_id, NewEvent(kind, {"n": revision, "stream": s}), revision=revision + 1
            )
    return ids


def _order_is_per_stream(events: list[FeedEvent]) -> None:
    by_stream: dict[str, list[int]] = {}
    for event in events:
        by_stream.setdefault(event.stream_id, []).append(event.revision)
    for revisions in by_stream.values():
        assert revisions == list(range(1, len(revisions) + 1))


def test_feed_pages_through_every_event_in_order_with_increasing_positions(client: EventStoreClient) -> None:
    ids = _fill(client)
    _fill(client, streams=1, stream_type="Invoice")
    events = list(client.feed("Order", page_size=5))
    assert len(events) == 12
    assert {e.stream_id for e in events} == set(ids)
    assert all(e.stream_type == "Order" for e in events)
    _order_is_per_stream(events)
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    everything = list(client.feed(page_size=7))
    assert len(everything) == 16
    assert {e.stream_type for e in everything} == {"Order", "Invoice"}


def test_feed_resumes_after_any_position_and_filters(client: EventStoreClient) -> None:
    _fill(client)
    events = list(client.feed("Order"))
    assert list(client.feed("Order", after=events[4].position)) == events[5:]
    paid = list(client.feed("Order", event_types=["Paid"], page_size=2))
    assert [e.event_type for e in paid] == ["Paid"] * 6
    assert paid == [e for e in events if e.event_type == "Paid"]
    halves = [list(client.feed("Order", member=m, size=2)) for m in (0, 1)]
    assert sorted(e.position for half in halves for e in half) == [e.position for e in events]
    assert not {e.stream_id for e in halves[0]} & {e.stream_id for e in halves[1]}


def test_filtered_pages_move_the_position_on_even_when_empty(client: EventStoreClient) -> None:
    _fill(client)
    pages = list(client.feed_pages("Order", event_types=["NoSuchType"], page_size=3))
    assert all(not page.events for page in pages)
    assert pages[-1].last_position == list(client.feed("Order"))[-1].position


def test_a_position_of_another_feed_is_refused(client: EventStoreClient) -> None:
    _fill(client, streams=1)
    position = next(iter(client.feed("Order"))).position
    with pytest.raises(InvalidRequest) as refused:
        list(client.feed("Invoice", after=position))
    assert [p.name for p in refused.value.invalid_params] == ["/query/after-position"]
    with pytest.raises(ValueError, match="both"):
        list(client.feed(member=0))


def test_checkpoints_compare_and_set(client: EventStoreClient) -> None:
    _fill(client, streams=1)
    first, second = (e.position for e in list(client.feed())[:2])
    with pytest.raises(CheckpointNotFound):
        client.get_checkpoint("projector.orders")
    stored = client.put_checkpoint("projector.orders", first, expected=None)
    assert (stored.name, stored.position) == ("projector.orders", first)
    with pytest.raises(CheckpointConflict) as conflict:
        client.put_checkpoint("projector.orders", second, expected=None)
    assert conflict.value.stored_position == first
    with pytest.raises(CheckpointConflict):
        client.put_checkpoint("projector.orders", second, expected=second)
    assert client.put_checkpoint("projector.orders", second, expected=first).position == second
    assert client.get_checkpoint("projector.orders").position == second
    assert client.put_checkpoint("projector.orders", first).position == first  # unconditional


def _run_in_thread(subscriber: Subscriber) -> threading.Thread:
    thread = threading.Thread(target=subscriber.run, daemon=True)
    thread.start()
    return thread


def test_subscriber_catches_up_follows_the_head_and_resumes_from_its_checkpoint(
    client: EventStoreClient,
) -> None:
    ids = _fill(client, streams=2, events=3)
    seen: list[FeedEvent] = []
    subscriber = Subscriber(
        client, "orders-view", seen.append, stream_type="Order", page_size=2, backoff=FAST
    )
    thread = _run_in_thread(subscriber)
    assert subscriber.caught_up.wait(10)
    assert len(seen) == 6
    client.append("Order", ids[0], NewEvent("Refunded"), expected_revision=3)
    deadline = time.monotonic() + 10
    while len(seen) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    subscriber.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert seen == list(client.feed("Order"))
    assert client.get_checkpoint("orders-view").position == seen[-1].position
    # A new instance resumes after what was handled: nothing again, then only what is new.
    client.append("Order", ids[1], NewEvent("Refunded"), expected_revision=3)
    again: list[FeedEvent] = []
    resumed = Subscriber(client, "orders-view", again.append, stream_type="Order", backoff=FAST)
    thread = _run_in_thread(resumed)
    assert resumed.caught_up.wait(10)
    resumed.stop()
    thread.join(10)
    assert [(e.stream_id, e.event_type) for e in again] == [(ids[1], "Refunded")]


def test_a_failing_handler_saves_what_it_finished_and_the_next_run_retries_the_failed_event(
    client: EventStoreClient,
) -> None:
    _fill(client, streams=1, events=5)
    handled: list[int] = []

    def handler(event: FeedEvent) -> None:
        if event.revision == 3 and 3 not in attempted:
            attempted.add(3)
            raise RuntimeError("projection down")
        handled.append(event.revision)

    attempted: set[int] = set()
    with pytest.raises(RuntimeError):
        Subscriber(client, "flaky", handler, backoff=FAST).run()
    assert handled == [1, 2]
    events = list(client.feed())
    assert client.get_checkpoint("flaky").position == events[1].position
    subscriber = Subscriber(client, "flaky", handler, backoff=FAST)
    thread = _run_in_thread(subscriber)
    assert subscriber.caught_up.wait(10)
    subscriber.stop()
    thread.join(10)
    assert handled == [1, 2, 3, 4, 5]


def test_a_subscriber_run_until_caught_up_returns_at_the_head(client: EventStoreClient) -> None:
    _fill(client, streams=2, events=3)
    seen: list[FeedEvent] = []
    Subscriber(client, "batch-job", seen.append, event_types=["Paid"], page_size=1).run(until_caught_up=True)
    assert [e.event_type for e in seen] == ["Paid", "Paid"]
    assert (
        client.get_checkpoint("batch-job").position == next(client.feed_pages(page_size=1000)).last_position
    )
    Subscriber(client, "batch-job", seen.append, event_types=["Paid"]).run(until_caught_up=True)
    assert len(seen) == 2


def test_a_second_instance_of_a_consumer_fails_instead_of_moving_the_checkpoint_back(
    client: EventStoreClient,
) -> None:
    _fill(client, streams=1, events=4)
    first = Subscriber(client, "twice", lambda _e: None, page_size=2, backoff=FAST)
    second = Subscriber(client, "twice", lambda _e: None, page_size=2, backoff=FAST)
    first._load()
    second._load()
    assert first.poll()
    with pytest.raises(CheckpointConflict):
        second.poll()
    assert client.get_checkpoint("twice").position == first.position


def test_cli_feed_replays_as_json_lines_and_says_where_to_resume(cli_env: FakeServer) -> None:
    from tests.client.conftest import make_client  # noqa: PLC0415

    with make_client(cli_env.url) as store_client:
        _fill(store_client)
        events = [e.to_json() for e in store_client.feed("Order")]
        everything = [e.to_json() for e in store_client.feed()]
    ran = run("feed", "--type", "Order")
    assert ran.code == 0, ran.err
    lines = [json.loads(line) for line in ran.out.splitlines()]
    assert lines == events
    assert f"resume with --after {events[-1]['position']}" in ran.err
    ran = run("feed", "--after", everything[9]["position"], "--event-type", "Shipped", "--event-type", "Paid")
    assert [json.loads(line) for line in ran.out.splitlines()] == everything[10:]
    ran = run("feed", "--type", "Order", "--event-type", "Opened")
    assert [json.loads(line) for line in ran.out.splitlines()] == events[:3]
    ran = run("feed", "--follow", "--idle-timeout", "0.3", "--interval", "0.05", "--max", "2")
    assert [json.loads(line) for line in ran.out.splitlines()] == everything[:2]
    ran = run("feed", "--type", "Order", "--follow", "--idle-timeout", "0.3", "--interval", "0.05")
    assert ran.code == 0
    assert [json.loads(line) for line in ran.out.splitlines()] == events
    ran = run("feed", "--group-member", "1")
    assert ran.code == 1
    assert "go together" in ran.err
    ran = run("feed", "--type", "Order", "--after", "not-a-position")
    assert ran.code == 4
    assert "after-position" in ran.err


def test_cli_checkpoint_get_and_set(cli_env: FakeServer) -> None:
    from tests.client.conftest import make_client  # noqa: PLC0415

    with make_client(cli_env.url) as store_client:
        _fill(store_client, streams=1)
        first, second = (e.position for e in list(store_client.feed())[:2])
    assert run("checkpoint", "get", "cli-view").code == 2
    assert run("checkpoint", "set", "cli-view", first, "--expect-new").code == 0
    conflict = run("checkpoint", "set", "cli-view", second, "--expected", second)
    assert conflict.code == 3
    ran = run("--json", "checkpoint", "set", "cli-view", second, "--expected", first)
    assert ran.code == 0
    assert json.loads(ran.out)["checkpoint"]["position"] == second
    ran = run("--json", "checkpoint", "get", "cli-view")
    assert json.loads(ran.out)["checkpoint"]["position"] == second
    assert run("checkpoint", "get", "no/slash").code == 4
