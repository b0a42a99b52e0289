"""Deletions through notify_stream: one StreamDeleted notification per deletion, after the stream's
commits; the control item completed for a deleter that died after its marker; restarts notified as
commits; markers never fed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from eventstore.appends import NewEvent
from eventstore.domain import Caller, StreamNotFound
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.lifecycle import new_marker
from eventstore.notifications import parse_event
from eventstore.table import CONTROL_REVISION
from tests.notify.conftest import TABLE, NotifierFactory
from tests.notify.harness import Bus, EventSourceMapping, StreamTap
from tests.support import load_handler

CALLER = Caller("arn:aws:iam::123456789012:user/tester", None)


@pytest.fixture
def mapping(
    monkeypatch: pytest.MonkeyPatch, store: DynamoEventStore, tap: StreamTap, topic_arn: str
) -> EventSourceMapping:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENTSTORE_TOPIC_ARN", topic_arn)
    module = load_handler("notify_stream")
    return EventSourceMapping(tap, lambda event: module.handler(event, None), batch_size=25)


def new_events(*types: str) -> list[NewEvent]:
    return [NewEvent(str(uuid.uuid4()), t, {"n": n}) for n, t in enumerate(types)]


def test_deletions_are_notified_after_the_commits_and_a_restart_as_a_commit(
    store: DynamoEventStore, bus: Bus, mapping: EventSourceMapping
) -> None:
    orders = bus.subscribe("orders", raw=True, filter_policy={"StreamType": ["order"]})
    soft, hard = str(uuid.uuid4()), str(uuid.uuid4())
    store.create("order", soft, new_events("A", "B"), CALLER)
    store.create("order", hard, new_events("A"), CALLER)
    store.delete("order", soft, 2, "soft")
    store.delete("order", hard, None, "tombstone")
    mapping.drain()
    store.append("order", soft, 2, new_events("Again"), CALLER)
    mapping.drain()
    received = [n.body for n in orders.receive()]
    by_stream = {
        stream_id: [
            (b.get("type", "Events"), b.get("mode"), b.get("toRevision"))
            for b in received
            if b["streamId"] == stream_id
        ]
        for stream_id in (soft, hard)
    }
    assert by_stream[soft] == [("Events", None, 2), ("StreamDeleted", "soft", None), ("Events", None, 3)]
    assert by_stream[hard] == [("Events", None, 1), ("StreamDeleted", "tombstone", None)]
    deleted = next(b for b in received if b.get("type") == "StreamDeleted" and b["streamId"] == soft)
    assert (deleted["lastRevision"], deleted["streamType"]) == (2, "order")
    assert "StreamRevision" not in deleted  # the original service's consumers never take it for events
    restart = next(b for b in reversed(received) if b["streamId"] == soft)
    assert (restart["fromRevision"], [e["eventType"] for e in restart["events"]]) == (3, ["Again"])
    # Markers are never fed: the feeds hold the commits only, the deleted ones left out at read time.
    fed = [(e.stream_id, e.revision) for e in store.read_feed(None, None, 100).events]
    assert fed == [(soft, 3)]


def test_notify_stream_completes_a_deletion_whose_deleter_died_after_its_marker(
    store: DynamoEventStore, mapping: EventSourceMapping
) -> None:
    stream_id = str(uuid.uuid4())
    store.create("order", stream_id, new_events("A", "B", "C"), CALLER)
    marker = new_marker(stream_id, "order", "soft", 3, datetime.now(UTC))
    # The deleter's first write only: the marker takes the head slot, the control item is not written.
    assert store.lifecycle._put_marker(marker, None) is None
    assert store.table.get_item(stream_id, CONTROL_REVISION) is None
    # A read that stops short of the head does not see the marker: the control item is what hides.
    assert [e.revision for e in store.read("order", stream_id, 0, 2).events] == [1, 2]
    mapping.drain()
    control = store.table.get_item(stream_id, CONTROL_REVISION)
    assert control is not None
    assert control["deletedBefore"] == {"N": "4"}
    with pytest.raises(StreamNotFound):
        store.read("order", stream_id, 0, 2)


def test_a_deletion_waits_for_the_commits_before_it_to_be_notified(
    store: DynamoEventStore, bus: Bus, tap: StreamTap, make_notifier: NotifierFactory
) -> None:
    orders = bus.subscribe("orders", raw=True, filter_policy={"StreamType": ["order"]})
    notifier = make_notifier(bus.sns, bus.topic_arn)
    stream_id = str(uuid.uuid4())
    store.create("order", stream_id, new_events("A"), CALLER)
    store.delete("order", stream_id, None, "soft")
    records = tap.new_records()
    (commit_record,) = [r for r in records if "digest" in r["dynamodb"]["NewImage"]]
    (marker_record,) = [r for r in records if "kind" in r["dynamodb"]["NewImage"]]
    # The marker's record arrives first (records of different items may come in other batches or shards).
    held = notifier.process(parse_event({"Records": [marker_record]}))
    assert held.failed_sequence_numbers == (marker_record["dynamodb"]["SequenceNumber"],)
    assert orders.receive() == []
    assert notifier.process(parse_event({"Records": [commit_record]})).failed_sequence_numbers == ()
    assert notifier.process(parse_event({"Records": [marker_record]})).failed_sequence_numbers == ()
    assert [b.body.get("type", "Events") for b in orders.receive()] == ["Events", "StreamDeleted"]
