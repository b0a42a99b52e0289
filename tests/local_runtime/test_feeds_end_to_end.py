"""Feeds end to end on the local runtime (`make run`): a 10,000-event stream type replayed through the CLI,
a Subscriber catching up and following, and the feed's lag measured (append accepted -> readable in the
feed). A store of their own: 10,000 events' notifications would flood the shared store's demo queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import botocore.session
import pytest

from bench.feeds import percentile
from bench.payloads import realistic_payload
from eventstore_client import Backoff, EventStoreClient, FeedEvent, NewEvent, RetryPolicy, Subscriber
from local_runtime.testing import LocalStore, launch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.slow

STREAMS = 100
EVENTS = 10_000
COMMIT = 10
LAG_SAMPLES = 100
LAG_P99_SECONDS = 2.0


@pytest.fixture(scope="module")
def feed_store() -> Iterator[LocalStore]:
    with launch() as local:
        yield local


@pytest.fixture
def store(feed_store: LocalStore) -> Iterator[EventStoreClient]:
    session = botocore.session.Session()
    session.set_credentials(feed_store.access_key, feed_store.secret_key)
    retry = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=1.0)
    with EventStoreClient(
        feed_store.api_url, region=feed_store.region, session=session, retry=retry
    ) as client:
        yield client


def eventstore(local: LocalStore, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script with the environment a user's shell would have."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "EVENTSTORE_URL": local.api_url,
        "AWS_ACCESS_KEY_ID": local.access_key,
        "AWS_SECRET_ACCESS_KEY": local.secret_key,
        "AWS_DEFAULT_REGION": local.region,
    }
    command = str(Path(sys.executable).parent / "eventstore")
    return subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def _wait_for(store: EventStoreClient, stream_type: str, count: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(len(page.events) for page in store.feed_pages(stream_type, page_size=1000)) < count:
        assert time.monotonic() < deadline, f"the {stream_type} feed did not reach {count} events"
        time.sleep(0.2)


def test_a_10000_event_type_replays_through_the_cli_in_order(
    feed_store: LocalStore, store: EventStoreClient
) -> None:
    stream_type = f"replay-{uuid.uuid4().hex[:8]}"
    per_stream = EVENTS // STREAMS
    ids = []
    for s in range(STREAMS):
        events = [
            NewEvent("Opened" if i == 0 else "Updated", realistic_payload(s * per_stream + i))
            for i in range(COMMIT)
        ]
        ids.append(store.create_stream(stream_type, events).stream_id)
    for revision in range(COMMIT, per_stream, COMMIT):  # round-robin: the feed interleaves the streams
        for s, stream_id in enumerate(ids):
            events = [
                NewEvent("Updated", realistic_payload(s * per_stream + revision + i)) for i in range(COMMIT)
            ]
            store.append(stream_type, stream_id, events, expected_revision=revision)
    _wait_for(store, stream_type, EVENTS)

    replayed = eventstore(feed_store, "feed", "--type", stream_type, "--from-start")
    assert replayed.returncode == 0, replayed.stderr
    lines = [json.loads(line) for line in replayed.stdout.splitlines()]
    assert len(lines) == EVENTS
    positions = [line["position"] for line in lines]
    assert positions == sorted(positions)
    assert len(set(positions)) == EVENTS
    revisions: dict[str, list[int]] = {}
    for line in lines:
        revisions.setdefault(line["streamId"], []).append(line["revision"])
    assert set(revisions) == set(ids)
    assert all(r == list(range(1, per_stream + 1)) for r in revisions.values())
    assert f"resume with --after {positions[-1]}" in replayed.stderr
    # Resuming from a position the CLI handed out gives exactly the rest; a filter moves on as well.
    rest = eventstore(feed_store, "feed", "--type", stream_type, "--after", positions[EVENTS - 5])
    assert [json.loads(line)["position"] for line in rest.stdout.splitlines()] == positions[-4:]
    opened = eventstore(feed_store, "feed", "--type", stream_type, "--event-type", "Opened")
    assert sorted(json.loads(line)["streamId"] for line in opened.stdout.splitlines()) == sorted(ids)


def test_a_subscriber_catches_up_then_follows_and_the_lag_is_within_two_seconds(
    store: EventStoreClient, record_property: Callable[[str, object], None]
) -> None:
    stream_type = f"lag-{uuid.uuid4().hex[:8]}"
    stream_id = store.create_stream(stream_type, NewEvent("Opened")).stream_id
    _wait_for(store, stream_type, 1)
    seen: dict[int, float] = {}
    arrived = threading.Condition()

    def handler(event: FeedEvent) -> None:
        with arrived:
            seen[event.revision] = time.perf_counter()
            arrived.notify_all()

    name = f"e2e-{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(store, name, handler, stream_type=stream_type, backoff=Backoff(0.005, 0.02))
    thread = threading.Thread(target=subscriber.run, daemon=True)
    thread.start()
    lags = []
    try:
        assert subscriber.caught_up.wait(30)
        for revision in range(2, LAG_SAMPLES + 2):
            store.append(
                stream_type, stream_id, NewEvent("Updated", {"n": revision}), expected_revision=revision - 1
            )
            accepted = time.perf_counter()
            with arrived:
                assert arrived.wait_for(partial(seen.__contains__, revision), timeout=30), revision
            lags.append(seen[revision] - accepted)
    finally:
        subscriber.stop()
        thread.join(30)
    assert not thread.is_alive()
    assert sorted(seen) == list(range(1, LAG_SAMPLES + 2))
    assert store.get_checkpoint(name).position == subscriber.position
    p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
    record_property("feed_lag_p50_ms", round(p50 * 1000))
    record_property("feed_lag_p99_ms", round(p99 * 1000))
    assert p99 <= LAG_P99_SECONDS, (p50, p99)
