"""A stream's snapshot item (revision -3) reaches the table's stream like any item: notify_stream must
neither notify nor feed it, with or without the mapping's filter in front."""

from __future__ import annotations

import uuid

import pytest

from eventstore.dynamodb.store import DynamoEventStore
from eventstore.snapshots import NewSnapshot
from local_runtime.pump import matches_filter
from tests.notify.conftest import TABLE
from tests.notify.harness import Bus, EventSourceMapping, StreamTap
from tests.notify.test_end_to_end import append, commits_by_stream
from tests.support import load_handler


def test_snapshots_are_never_notified_nor_fed(
    monkeypatch: pytest.MonkeyPatch, store: DynamoEventStore, bus: Bus, tap: StreamTap, topic_arn: str
) -> None:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENTSTORE_TOPIC_ARN", topic_arn)
    module = load_handler("notify_stream")
    lambda_mapping = EventSourceMapping(tap, lambda event: module.handler(event, None), batch_size=25)
    orders = bus.subscribe("orders", raw=True, filter_policy={"StreamType": ["order"]})
    stream_id = str(uuid.uuid4())
    append(store, "order", stream_id, ["Placed", "Paid"])
    lambda_mapping.drain()
    # An INSERT of the snapshot item, then a MODIFY (a newer snapshot replaces it), between commits.
    store.put_snapshot("order", stream_id, NewSnapshot(1, "order-v1", {"n": 1}))
    append(store, "order", stream_id, ["Shipped"])
    store.put_snapshot("order", stream_id, NewSnapshot(3, "order-v1", {"n": 3}))
    records = tap.new_records()
    snapshot_records = [r for r in records if r["dynamodb"]["Keys"]["revision"]["N"] == "-3"]
    assert [r["eventName"] for r in snapshot_records] == ["INSERT", "MODIFY"]
    assert not any(matches_filter(r) for r in snapshot_records)
    # The harness hands notify_stream every record, unfiltered.
    lambda_mapping.pending.extend(records)
    lambda_mapping.drain()
    assert commits_by_stream(orders.receive()) == {stream_id: [(1, 2), (3, 3)]}
    fed = [(e.stream_id, e.revision) for e in store.read_feed("order", None, 100).events]
    assert fed == [(stream_id, 1), (stream_id, 2), (stream_id, 3)]
