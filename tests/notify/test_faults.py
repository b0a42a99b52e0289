"""Failures: SNS rejecting entries or whole calls, the store failing, commits arriving out of order.

Each test drives real records from moto's stream through Lambda's retry behaviour (EventSourceMapping)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import timefmt
from eventstore.appends import NewEvent
from eventstore.commits import Commit
from eventstore.domain import ANY_REVISION, Caller, ServiceUnavailable
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.feeds import ALL_FEED, FeedIndex, FeedItem
from eventstore.feedwriter import StreamCursors
from eventstore.notifications import Notifier, TopicSettings, parse_event
from tests.notify.conftest import NotifierFactory
from tests.notify.harness import (
    Bus,
    EventSourceMapping,
    FlakyPublisher,
    StoreCursor,
    StreamTap,
    body_of,
    first_occurrences,
)
from tests.support import feed_entries, listing_marker, notified

CALLER = Caller(None, None)


def new_stream(store: DynamoEventStore, stream_type: str, commits: int) -> str:
    stream_id = str(uuid.uuid4())
    store.create(stream_type, stream_id, [NewEvent(str(uuid.uuid4()), "Opened", {})], CALLER)
    for _ in range(commits - 1):
        store.append(
            stream_type, stream_id, ANY_REVISION, [NewEvent(str(uuid.uuid4()), "Changed", {})], CALLER
        )
    return stream_id


def handler_for(notifier: Notifier) -> Callable[[dict[str, Any]], dict[str, list[dict[str, str]]]]:
    return lambda event: notifier.process(parse_event(event)).response()


def sequence_of(records: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """(stream id, first revision) of each commit record -> its sequence number."""
    return {
        (r["dynamodb"]["Keys"]["streamId"]["S"], int(r["dynamodb"]["Keys"]["revision"]["N"])): r["dynamodb"][
            "SequenceNumber"
        ]
        for r in records
        if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["revision"]["N"] != "0"
    }


def published(publisher: FlakyPublisher) -> list[tuple[str, int]]:
    """(stream, revision) of every entry sent to SNS, in order."""
    return [(body_of(e)["streamId"], body_of(e)["toRevision"]) for call in publisher.calls for e in call]


def test_rejected_entries_are_reported_with_the_later_records_of_their_stream_only(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    queue = bus.subscribe("all", raw=True, filter_policy={"StreamType": ["order"]})
    a, b, c = (new_stream(store, "order", n) for n in (4, 2, 1))
    publisher = bus.flaky_publisher()
    publisher.reject(lambda e: (body_of(e)["streamId"], body_of(e)["toRevision"]) == (a, 2))
    mapping = EventSourceMapping(tap, handler_for(make_notifier(publisher, bus.topic_arn)))
    mapping.pending.extend(tap.new_records())
    seq = sequence_of(mapping.pending)

    failures = mapping.poll()

    assert failures == [seq[a, 2], seq[a, 3], seq[a, 4]]
    first_attempt = {(s, rev) for s, revs in first_occurrences(queue.receive()).items() for rev in revs}
    assert first_attempt == {(a, 1), (b, 1), (b, 2), (c, 1)}  # a's 3 and 4 did not overtake 2

    assert mapping.poll() == []  # Lambda's retry from the lowest reported sequence number
    assert first_occurrences(queue.receive()) == {a: [1, 2, 3, 4], b: [1, 2], c: [1]}


def test_a_failed_publish_call_fails_its_entries_and_the_later_records_of_their_streams(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    queue = bus.subscribe("all", raw=True, filter_policy={"StreamType": ["order"]})
    streams = [new_stream(store, "order", 2) for _ in range(12)]
    publisher = bus.flaky_publisher()
    publisher.throw(lambda e: (body_of(e)["streamId"], body_of(e)["toRevision"]) == (streams[11], 1))
    mapping = EventSourceMapping(tap, handler_for(make_notifier(publisher, bus.topic_arn)))
    mapping.pending.extend(tap.new_records())
    seq = sequence_of(mapping.pending)

    failures = mapping.poll()

    # Round one: streams 0-9 in one call, 10-11 in the failing one; 10 and 11 are then held back.
    assert [len(call) for call in publisher.calls] == [10, 2, 10]
    assert sorted(failures, key=int) == sorted((seq[s, r] for s in streams[10:] for r in (1, 2)), key=int)
    assert mapping.poll() == []
    assert first_occurrences(queue.receive()) == {s: [1, 2] for s in streams}


def test_a_summary_read_failure_fails_the_batch_and_publishes_nothing_unfed(
    store: DynamoEventStore, tap: StreamTap, bus: Bus
) -> None:
    first, second = new_stream(store, "order", 2), new_stream(store, "order", 2)
    outage = [True]

    class FailingCursor(StoreCursor):
        def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
            if outage[0] and second in stream_ids:
                raise ServiceUnavailable("throttled")
            return store.cursors(stream_ids)

    publisher = bus.flaky_publisher()
    notifier = Notifier(FailingCursor(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())
    records = tap.new_records()

    outcome = notifier.process(parse_event({"Records": records}))

    assert sorted(outcome.failed_sequence_numbers) == sorted(sequence_of(records).values())
    assert published(publisher) == []
    outage[0] = False
    assert notifier.process(parse_event({"Records": records})).failed_sequence_numbers == ()
    assert sorted(published(publisher)) == sorted([(first, 1), (first, 2), (second, 1), (second, 2)])
    assert sorted(feed_entries(store)) == sorted([(first, 1), (first, 2), (second, 1), (second, 2)])


def test_published_but_unrecorded_commits_are_retried_and_then_recorded(
    store: DynamoEventStore, tap: StreamTap, bus: Bus
) -> None:
    stream_id = new_stream(store, "order", 2)
    records = tap.new_records()
    seq = sequence_of(records)
    outage = [True]

    class RecordingFails(StoreCursor):
        def move_cursors(
            self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
        ) -> bool:
            if outage[0]:
                raise ServiceUnavailable("throttled")
            return store.move_cursors(stream_id, stream_type, fed, notified, read)

    publisher = bus.flaky_publisher()
    notifier = Notifier(RecordingFails(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())

    first = notifier.process(parse_event({"Records": records}))
    assert first.failed_sequence_numbers == (seq[stream_id, 1], seq[stream_id, 2])
    assert notified(store, stream_id) == 0
    outage[0] = False
    assert notifier.process(parse_event({"Records": records})).failed_sequence_numbers == ()
    assert notified(store, stream_id) == 2
    assert published(publisher) == [(stream_id, 1), (stream_id, 2), (stream_id, 1), (stream_id, 2)]
    # At least once for notifications; exactly once in the feeds.
    assert feed_entries(store) == [(stream_id, 1), (stream_id, 2)]
    assert feed_entries(store, "order") == [(stream_id, 1), (stream_id, 2)]


def test_a_later_commit_in_another_shard_never_overtakes_a_predecessor_awaiting_a_retry(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    stream_id = new_stream(store, "order", 2)
    r1, r2 = tap.new_records()
    publisher = bus.flaky_publisher()
    publisher.reject(lambda e: body_of(e)["toRevision"] == 1, times=2)
    shard_a = make_notifier(publisher, bus.topic_arn)
    shard_b = make_notifier(publisher, bus.topic_arn)

    assert shard_a.process(parse_event({"Records": [r1]})).failed_sequence_numbers == (
        r1["dynamodb"]["SequenceNumber"],
    )
    # Shard B publishes revision 1 from the table before revision 2; while that fails, 2 is not sent.
    assert shard_b.process(parse_event({"Records": [r2]})).failed_sequence_numbers == (
        r2["dynamodb"]["SequenceNumber"],
    )
    assert published(publisher) == [(stream_id, 1), (stream_id, 1)], "revision 2 must not be attempted"
    assert shard_b.process(parse_event({"Records": [r2]})).failed_sequence_numbers == ()
    assert shard_a.process(parse_event({"Records": [r1]})).failed_sequence_numbers == ()
    assert published(publisher) == [(stream_id, 1), (stream_id, 1), (stream_id, 1), (stream_id, 2)]
    assert notified(store, stream_id) == 2


def test_commits_missing_from_the_input_are_published_from_the_table_first(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    stream_id = new_stream(store, "order", 3)
    r1, r2, r3 = tap.new_records()
    publisher = bus.flaky_publisher()
    notifier = make_notifier(publisher, bus.topic_arn)

    # r3 arrives first (another shard), or r1 and r2 were given up on after an outage.
    assert notifier.process(parse_event({"Records": [r3]})).failed_sequence_numbers == ()
    assert published(publisher) == [(stream_id, 1), (stream_id, 2), (stream_id, 3)]
    # Their own records, when they come, publish nothing more.
    assert notifier.process(parse_event({"Records": [r1, r2]})).failed_sequence_numbers == ()
    assert published(publisher) == [(stream_id, 1), (stream_id, 2), (stream_id, 3)]


def test_a_gap_that_cannot_be_read_holds_the_record_back(
    store: DynamoEventStore, tap: StreamTap, bus: Bus
) -> None:
    stream_id = new_stream(store, "order", 3)
    _, _, r3 = tap.new_records()

    class Unreadable(StoreCursor):
        def commits_between(self, _stream_id: str, _first: int, _last: int) -> list[Commit]:
            raise ServiceUnavailable("throttled")

    publisher = bus.flaky_publisher()
    notifier = Notifier(Unreadable(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())
    assert notifier.process(parse_event({"Records": [r3]})).failed_sequence_numbers == (
        r3["dynamodb"]["SequenceNumber"],
    )
    assert publisher.calls == []
    assert notified(store, stream_id) == 0


def test_commits_of_a_stream_out_of_order_in_one_batch_go_out_in_order_with_one_summary_write(
    store: DynamoEventStore, tap: StreamTap, bus: Bus
) -> None:
    stream_id = new_stream(store, "order", 3)
    records = tap.new_records()
    writes: list[tuple[int, int]] = []

    class CountingCursor(StoreCursor):
        def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
            writes.append((revision, -1))
            store.advance_fed(stream_id, stream_type, revision)

        def move_cursors(
            self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
        ) -> bool:
            writes.append((fed, notified))
            return store.move_cursors(stream_id, stream_type, fed, notified, read)

    publisher = bus.flaky_publisher()
    notifier = Notifier(CountingCursor(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())

    outcome = notifier.process(parse_event({"Records": list(reversed(records))}))

    assert outcome.failed_sequence_numbers == ()
    assert writes == [(3, 3)]
    assert published(publisher) == [(stream_id, 1), (stream_id, 2), (stream_id, 3)]


@dataclass(frozen=True)
class Scenario:
    commits: list[int]
    """Per stream, how many commits it gets."""

    batch_size: int
    reject_rate: float
    throw_rate: float
    seed: int


scenarios = st.builds(
    Scenario,
    commits=st.lists(st.integers(1, 4), min_size=1, max_size=12),
    batch_size=st.integers(1, 30),
    reject_rate=st.sampled_from([0.0, 0.2, 0.5]),
    throw_rate=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**32),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios)
def test_after_retries_every_revision_is_notified_at_least_once_in_order(
    scenario: Scenario, store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    # Fixtures are shared by the examples: each example has its own stream type and subscriber.
    rng = random.Random(scenario.seed)  # noqa: S311 - reproducible fault choices, not secrets
    stream_type = f"t{uuid.uuid4().hex[:12]}"
    queue = bus.subscribe(stream_type, raw=True, filter_policy={"StreamType": [stream_type]})
    streams = {new_stream(store, stream_type, n): n for n in scenario.commits}
    publisher = bus.flaky_publisher()
    # Bounded injections, so the shard drains; which entries fail is random.
    publisher.reject(lambda _: rng.random() < scenario.reject_rate, times=15)
    publisher.throw(lambda _: rng.random() < scenario.throw_rate, times=5)
    notifier = make_notifier(publisher, bus.topic_arn)
    mapping = EventSourceMapping(tap, handler_for(notifier), batch_size=scenario.batch_size)

    mapping.drain(max_invocations=200)

    assert first_occurrences(queue.receive()) == {s: list(range(1, n + 1)) for s, n in streams.items()}


class NoMetrics:
    def count(self, name: str, value: int = 1) -> None:
        pass

    def milliseconds(self, name: str, value: float) -> None:
        pass

    def flush(self) -> None:
        pass


def test_a_commit_written_late_is_marked_for_listing_and_a_failure_to_mark_delays_nothing(
    store: DynamoEventStore, tap: StreamTap, bus: Bus
) -> None:
    prompt, late = new_stream(store, "order", 1), new_stream(store, "order", 2)
    records = tap.new_records()
    by_stream = {r["dynamodb"]["Keys"]["streamId"]["S"]: r for r in records}  # each stream's newest
    stamp = timefmt.parse(by_stream[late]["dynamodb"]["NewImage"]["committedAt"]["S"])
    by_stream[late]["dynamodb"]["ApproximateCreationDateTime"] = (stamp + timedelta(seconds=5)).timestamp()
    marks: list[int] = []

    class MarkFails(StoreCursor):
        def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
            if commit.stream_id == late and not marks:
                marks.append(commit.last_revision)
                raise ServiceUnavailable("throttled")
            return store.mark_if_late(commit, written_at)

    publisher = bus.flaky_publisher()
    notifier = Notifier(MarkFails(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())
    first = notifier.process(parse_event({"Records": records}))

    # Marking failed: logged and counted; the notifications went out all the same.
    assert first.failed_sequence_numbers == ()
    assert sorted(published(publisher)) == sorted([(prompt, 1), (late, 1), (late, 2)])
    assert marks == [2]
    assert listing_marker(store, late) is None
    # The same records once more (as after a lost response): already notified, so nothing is marked.
    assert notifier.process(parse_event({"Records": records})).failed_sequence_numbers == ()
    assert listing_marker(store, late) is None
    # A fresh batch carrying the late commit (say, from another shard's retry) marks it.
    store.table.client.delete_item(
        TableName=store.table.name, Key={"streamId": {"S": late}, "revision": {"N": "0"}}
    )
    assert notifier.process(parse_event({"Records": records})).failed_sequence_numbers == ()
    assert listing_marker(store, prompt) is None
    marker = listing_marker(store, late)
    assert marker["lastRevision"] == {"N": "2"}
    assert timefmt.parse(marker["committedAt"]["S"]) > stamp
    assert (notified(store, late), notified(store, prompt)) == (2, 1)


# The feed writer's faults ----------------------------------------------------------------------------


class Crash(Exception):
    """The Lambda dying: nothing in notify_stream catches it."""


def test_a_writer_killed_after_its_put_leaves_the_next_batch_to_finish_it_without_duplicates(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    first, second = new_stream(store, "order", 2), new_stream(store, "invoice", 1)
    records = tap.new_records()
    dying = [True]

    class DiesAfterPut(StoreCursor):
        def put(self, item: FeedItem) -> bool:
            written = store.put(item)
            if dying[0]:
                dying[0] = False
                raise Crash
            return written

    publisher = bus.flaky_publisher()
    killed = Notifier(DiesAfterPut(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())
    with pytest.raises(Crash):
        killed.process(parse_event({"Records": records}))
    # Item 1 of the all-types feed is written (a type's feed is that sequence filtered: it shows the item
    # too); the streams' fed cursors are not moved.
    assert len(feed_entries(store)) == 3
    assert feed_entries(store, "order") == [(first, 1), (first, 2)]
    assert store.cursors([first, second]) == dict.fromkeys([first, second], StreamCursors())
    assert published(publisher) == []

    # Another batch (a later commit of the first stream, from another instance), then the retried one.
    store.append("order", first, 2, [NewEvent(str(uuid.uuid4()), "Changed", {})], CALLER)
    later = tap.new_records()
    notifier = make_notifier(publisher, bus.topic_arn)
    assert notifier.process(parse_event({"Records": later})).failed_sequence_numbers == ()
    assert notifier.process(parse_event({"Records": records})).failed_sequence_numbers == ()

    everything = feed_entries(store)
    assert sorted(everything) == sorted([(first, 1), (first, 2), (first, 3), (second, 1)])
    assert [e for e in everything if e[0] == first] == [(first, 1), (first, 2), (first, 3)]
    assert feed_entries(store, "order") == [(first, 1), (first, 2), (first, 3)]
    assert feed_entries(store, "invoice") == [(second, 1)]
    assert sorted(set(published(publisher))) == sorted(everything)
    assert store.cursors([first, second]) == {first: StreamCursors(3, 3), second: StreamCursors(1, 1)}


def test_the_item_opening_a_block_carries_the_index_of_the_block_before_it(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    """Blocks of 2 items (conftest): item 3 carries block 1's index, read back by one BatchGetItem; block 2
    (open) has none, and its items are read one by one."""
    notifier = make_notifier(bus.flaky_publisher(), bus.topic_arn)
    ids = []
    for stream_type in ("order", "invoice", "order"):
        ids.append(new_stream(store, stream_type, 1))
        assert notifier.process(parse_event({"Records": tap.new_records()})).failed_sequence_numbers == ()
    head = store.head(ALL_FEED)
    assert head is not None
    assert head.sequence == 3
    assert head.block_index == {"order": (1,), "invoice": (2,)}
    assert [i.block_index for i in store.block(1, 2)] == [None, None]
    assert store.feed_source.indexes(1, 10) == [FeedIndex(1, {"order": (1,), "invoice": (2,)})]
    assert feed_entries(store, "order") == [(ids[0], 1), (ids[2], 1)]
    assert feed_entries(store, "invoice") == [(ids[1], 1)]


def test_a_writer_that_loses_the_next_position_retries_after_the_winner(
    store: DynamoEventStore, tap: StreamTap, bus: Bus, make_notifier: NotifierFactory
) -> None:
    mine, theirs = new_stream(store, "order", 1), new_stream(store, "order", 1)
    records = tap.new_records()
    by_stream = {r["dynamodb"]["Keys"]["streamId"]["S"]: r for r in records}
    publisher = bus.flaky_publisher()
    rival = make_notifier(publisher, bus.topic_arn)
    counted: dict[str, int] = {}

    class Counting(NoMetrics):
        def count(self, name: str, value: int = 1) -> None:
            counted[name] = counted.get(name, 0) + value

    class RacedOnce(StoreCursor):
        def put(self, item: FeedItem) -> bool:
            if not counted.get("raced"):
                counted["raced"] = 1
                # Another shard's instance feeds its own commit (and this one's, by the same record) first.
                assert (
                    rival.process(parse_event({"Records": [by_stream[theirs]]})).failed_sequence_numbers == ()
                )
            return store.put(item)

    notifier = Notifier(RacedOnce(store), publisher, TopicSettings(bus.topic_arn), Counting())
    assert notifier.process(parse_event({"Records": [by_stream[mine]]})).failed_sequence_numbers == ()

    assert counted["FeedWriteConflicts"] == 1
    assert feed_entries(store) == [(theirs, 1), (mine, 1)]
    assert feed_entries(store, "order") == [(theirs, 1), (mine, 1)]
    assert sorted(published(publisher)) == sorted([(mine, 1), (theirs, 1)])


def test_a_stream_notified_before_the_feeds_existed_is_fed_from_its_first_commit_page_by_page(
    store: DynamoEventStore, tap: StreamTap, bus: Bus
) -> None:
    stream_id = new_stream(store, "order", 5)
    *_, newest = tap.new_records()
    # The summary as notify_stream left it before the feeds: revisions 1-4 notified, nothing fed.
    store.table.client.put_item(
        TableName=store.table.name,
        Item={
            "streamId": {"S": stream_id},
            "revision": {"N": "0"},
            "streamType": {"S": "order"},
            "lastRevision": {"N": "4"},
        },
    )

    class SmallPages(StoreCursor):
        def commits_between(self, stream_id: str, first: int, last: int) -> list[Commit]:
            return store.commits_between(stream_id, first, last)[:2]

    publisher = bus.flaky_publisher()
    notifier = Notifier(SmallPages(store), publisher, TopicSettings(bus.topic_arn), NoMetrics())
    assert notifier.process(parse_event({"Records": [newest]})).failed_sequence_numbers == ()

    assert feed_entries(store) == [(stream_id, r) for r in range(1, 6)]
    assert published(publisher) == [(stream_id, 5)]
    assert store.cursors([stream_id])[stream_id] == StreamCursors(5, 5)
