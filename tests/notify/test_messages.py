"""What goes to SNS: FIFO group and deduplication ids, PublishBatch limits, message size."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from eventstore.appends import NewEvent
from eventstore.commits import Commit
from eventstore.domain import Caller, RecordedEvent
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.feeds import FeedItem
from eventstore.feedwriter import StreamCursors
from eventstore.lifecycle import LifecycleMarker
from eventstore.notifications import (
    MAX_PUBLISH_BYTES,
    CommitRecord,
    Notifier,
    TopicSettings,
    build_notification,
    parse_event,
)
from eventstore.observability import Telemetry
from tests.notify.conftest import NotifierFactory
from tests.notify.harness import Bus, StreamTap, body_of
from tests.support import load_event

# SNS: up to 128 alphanumeric characters and punctuation (PublishBatchRequestEntry).
SNS_FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
# PublishBatch entry ids: up to 80 alphanumeric characters, hyphens and underscores.
SNS_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def entry_size(entry: Any) -> int:
    attributes = entry.get("MessageAttributes", {})
    return len(entry["Message"].encode()) + sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


def test_fifo_entries_carry_the_stream_as_group_and_stream_revision_as_deduplication_id(
    fifo_bus: Bus, make_notifier: NotifierFactory
) -> None:
    queue = fifo_bus.subscribe("orders", raw=True, filter_policy={"StreamType": ["order"]})
    publisher = fifo_bus.flaky_publisher()
    notifier = make_notifier(publisher, fifo_bus.topic_arn)
    event = load_event("dynamodb_stream_commits")

    assert notifier.process(parse_event(event)).failed_sequence_numbers == ()

    entries = [entry for call in publisher.calls for entry in call]
    assert len(entries) == 3
    for entry in entries:
        body = body_of(entry)
        assert entry["MessageGroupId"] == body["streamId"]
        assert entry["MessageDeduplicationId"] == f"{body['streamId']}:{body['toRevision']}"
        assert SNS_FIFO_ID.fullmatch(entry["MessageGroupId"])
        assert SNS_FIFO_ID.fullmatch(entry["MessageDeduplicationId"])
    # The same batch again, as Lambda retries it when the summary could not be recorded after the
    # publish: it is published again with the same deduplication ids, and the FIFO subscriber gets each
    # notification once.
    calls_before = len(publisher.calls)
    forgetful = Notifier(ForgetfulCursor(), publisher, TopicSettings(fifo_bus.topic_arn), Telemetry())
    assert forgetful.process(parse_event(event)).failed_sequence_numbers == ()
    again = [entry for call in publisher.calls[calls_before:] for entry in call]
    assert [e["MessageDeduplicationId"] for e in again] == [e["MessageDeduplicationId"] for e in entries]
    assert [n.stream_and_revision for n in queue.receive()] == [
        ("5f0c6c1e-8a4b-4c3e-9d2a-1b7e3f9a6c01", 1),
        ("5f0c6c1e-8a4b-4c3e-9d2a-1b7e3f9a6c01", 3),
    ]


class ForgetfulCursor:
    """A cursor that has recorded nothing, as if recording the summary had failed after the publish."""

    def head(self, _feed: str) -> FeedItem | None:
        return None

    def put(self, _item: FeedItem) -> bool:
        return True

    def block(self, _first: int, _last: int) -> list[FeedItem]:
        return []

    def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
        return dict.fromkeys(stream_ids, StreamCursors())

    def advance_fed(self, _stream_id: str, _stream_type: str, _revision: int) -> None:
        pass

    def move_cursors(
        self, _stream_id: str, _stream_type: str, _fed: int, _notified: int, _read: StreamCursors
    ) -> bool:
        return True

    def commits_between(self, _stream_id: str, _first: int, _last: int) -> list[Commit]:
        return []

    def mark_if_late(self, _commit: Commit, _written_at: datetime) -> bool:
        return False

    def complete_deletion(self, _marker: LifecycleMarker) -> None:
        pass


def test_a_standard_topic_gets_no_fifo_ids(bus: Bus, make_notifier: NotifierFactory) -> None:
    publisher = bus.flaky_publisher()

    make_notifier(publisher, bus.topic_arn).process(parse_event(load_event("dynamodb_stream_commits")))

    entries = [entry for call in publisher.calls for entry in call]
    assert entries
    assert not any({"MessageGroupId", "MessageDeduplicationId"} & entry.keys() for entry in entries)


def test_publish_batch_calls_stay_within_ten_entries_and_256_kb(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    # 25 streams, each one commit of 100 events with long distinct types: ~30 KB per message.
    for n in range(25):
        events = [NewEvent(str(uuid.uuid4()), f"{n:02d}{i:03d}".ljust(128, "x"), {}) for i in range(100)]
        store.create("bulk", str(uuid.uuid4()), events, Caller(None, None))
    publisher = bus.flaky_publisher()

    outcome = make_notifier(publisher, bus.topic_arn).process(parse_event({"Records": tap.new_records()}))

    assert outcome.failed_sequence_numbers == ()
    assert sum(len(call) for call in publisher.calls) == 25
    assert len(publisher.calls) > 3  # the size limit, not only the count, split the calls
    for call in publisher.calls:
        assert len(call) <= 10
        assert sum(entry_size(e) for e in call) <= MAX_PUBLISH_BYTES
        ids = [e["Id"] for e in call]
        assert len(set(ids)) == len(ids)
        assert all(SNS_ENTRY_ID.fullmatch(i) for i in ids)
        assert all("eventsTruncated" not in body_of(e) for e in call)


def huge_commit(events: int) -> CommitRecord:
    stream_id = str(uuid.uuid4())
    recorded = tuple(
        RecordedEvent(stream_id, r, str(uuid.uuid4()), f"Type{r % 7}".ljust(100, "y"), None, {}, "")
        for r in range(1, events + 1)
    )
    commit = Commit(stream_id, "order", 1, events, "2026-11-27T09:30:00.000000Z", "d", recorded)
    return CommitRecord(0, "1", commit)


def test_a_commit_too_big_for_one_message_lists_a_prefix_of_its_events() -> None:
    record = huge_commit(3000)

    notification = build_notification(record, fifo=False)

    body: dict[str, Any] = json.loads(notification.message)
    assert notification.size <= MAX_PUBLISH_BYTES
    assert body["eventsTruncated"] is True
    assert (body["fromRevision"], body["toRevision"], body["StreamRevision"]) == (1, 3000, "3000")
    kept = [e["revision"] for e in body["events"]]
    assert kept == list(range(1, len(kept) + 1))
    assert len(kept) > 1000  # as much as fits, not a token few
    assert notification.size + 200 > MAX_PUBLISH_BYTES  # and no room left for another event
    assert json.loads(notification.attributes["EventTypes"]["StringValue"]) == [
        f"Type{k}".ljust(100, "y") for k in (1, 2, 3, 4, 5, 6, 0)
    ]


def test_a_commit_that_fits_is_not_marked_truncated() -> None:
    body = json.loads(build_notification(huge_commit(100), fifo=False).message)

    assert "eventsTruncated" not in body
    assert len(body["events"]) == 100
