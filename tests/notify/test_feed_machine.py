"""Random appends across streams and types, feed writer runs (notify_stream's, on moto) over batches with
duplicated, reordered and dropped records, two writer instances racing for one position, and readers
reading from earlier positions. Checked: each feed holds a stream's events once, in revision order, with no
gaps; whatever was read once is read again the same from any earlier position; filters select exactly
what they name; consumer-group members partition the streams; and once every record has been delivered,
every commit's events are in the all-types feed and in its type's feed exactly once; a type's feed is the
all-types feed filtered, at the same places; the item opening a block (of 2 items, tests/notify/conftest.py)
carries the index of the block before it, as that block's items say."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

import boto3
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from moto import mock_aws

from eventstore.appends import NewEvent
from eventstore.domain import ANY_REVISION, Caller
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.feedreads import FeedEvent, group_member
from eventstore.feeds import ALL_FEED, FeedItem, block_of, block_range, index_types, opens_block
from eventstore.notifications import Notifier, TopicSettings, parse_event
from eventstore.table import create_table
from tests.notify.harness import StoreCursor
from tests.notify.test_faults import NoMetrics

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import PublishBatchInputTypeDef, PublishBatchResponseTypeDef

CALLER = Caller(principal=None, request_id=None)
TOPIC = "arn:aws:sns:us-east-1:123456789012:feeds"
TYPES = ("order", "invoice", "parcel")
EVENT_TYPES = ("Opened", "Changed", "Closed")

type Key = tuple[str, int]
"""(stream id, revision) of one event."""


class Accepting:
    """A topic that accepts every notification (this machine checks the feeds, not the notifications)."""

    def publish_batch(self, **kwargs: Unpack[PublishBatchInputTypeDef]) -> PublishBatchResponseTypeDef:
        entries = kwargs["PublishBatchRequestEntries"]
        return {  # type: ignore[typeddict-item]
            "Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in entries],
            "Failed": [],
        }


class Racing(StoreCursor):
    """A writer instance whose next put is preceded by another instance's whole run (so it collides)."""

    def __init__(self, store: DynamoEventStore) -> None:
        super().__init__(store)
        self.before_put: list[Any] = []

    def put(self, item: FeedItem) -> bool:
        while self.before_put:
            self.before_put.pop()()
        return self.store.put(item)


class FeedMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "events")
        self.store = DynamoEventStore(client, "events")
        self.racing = Racing(self.store)
        self.writers = [
            Notifier(self.racing, Accepting(), TopicSettings(TOPIC), NoMetrics()),
            Notifier(self.store, Accepting(), TopicSettings(TOPIC), NoMetrics()),
        ]
        self.streams: dict[str, str] = {}
        """stream id -> type"""
        self.written: dict[Key, str] = {}
        """every event appended -> its event type"""
        self.records: list[dict[str, Any]] = []
        """one stream record per commit, as Lambda would deliver it"""
        self.seen: dict[str | None, list[FeedEvent]] = {}
        """per feed (None: all types), the longest run read from its beginning"""

    def teardown(self) -> None:
        self.mock.stop()

    # Appends

    @rule(
        new=st.booleans(),
        pick=st.integers(0, 100),
        stream_type=st.sampled_from(TYPES),
        kinds=st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=3),
    )
    def append(self, new: bool, pick: int, stream_type: str, kinds: list[str]) -> None:  # noqa: FBT001
        sent = [NewEvent(str(uuid.uuid4()), kind, {"k": kind}) for kind in kinds]
        if new or not self.streams:
            stream_id = str(uuid.uuid4())
            result = self.store.create(stream_type, stream_id, sent, CALLER)
            self.streams[stream_id] = stream_type
        else:
            stream_id = sorted(self.streams)[pick % len(self.streams)]
            stream_type = self.streams[stream_id]
            result = self.store.append(stream_type, stream_id, ANY_REVISION, sent, CALLER)
        first = result.first_revision
        self.written.update(((stream_id, first + i), kind) for i, kind in enumerate(kinds))
        self.records.append(self._record(stream_id, first))

    def _record(self, stream_id: str, first: int) -> dict[str, Any]:
        item = self.store.table.get_item(stream_id, first)
        assert item is not None
        keys = {"streamId": item["streamId"], "revision": item["revision"]}
        sequence = str(10**20 + len(self.records))
        return {
            "eventName": "INSERT",
            "dynamodb": {"Keys": keys, "NewImage": item, "SequenceNumber": sequence},
        }

    # Writer runs

    @precondition(lambda self: self.records)
    @rule(data=st.data(), writer=st.integers(0, 1))
    def deliver(self, data: st.DataObject, writer: int) -> None:
        """A batch of some records (any subset: the others dropped from it), some twice, in any order."""
        batch = self._batch(data)
        outcome = self.writers[writer].process(parse_event({"Records": batch}))
        assert outcome.failed_sequence_numbers == ()

    @precondition(lambda self: len(self.records) >= 2)
    @rule(data=st.data())
    def race(self, data: st.DataObject) -> None:
        """Two instances on two batches; the second takes the next position while the first is about to."""
        first, second = self._batch(data), self._batch(data)
        rival = self.writers[1]
        self.racing.before_put.append(lambda: rival.process(parse_event({"Records": second})))
        outcome = self.writers[0].process(parse_event({"Records": first}))
        assert outcome.failed_sequence_numbers == ()

    def _batch(self, data: st.DataObject) -> list[dict[str, Any]]:
        chosen = data.draw(st.lists(st.sampled_from(self.records), min_size=1, max_size=8))
        return data.draw(st.permutations(chosen))

    # Readers

    @rule(feed=st.sampled_from((None, *TYPES)), cut=st.integers(0, 100), limit=st.integers(1, 5))
    def read_from_an_earlier_position(self, feed: str | None, cut: int, limit: int) -> None:
        before = self.seen.get(feed, [])
        start = cut % (len(before) + 1)
        after = before[start - 1].position if start else None
        read = self._read(feed, after, limit)
        # The immutable prefix: what was read once follows that position again, unchanged.
        assert read[: len(before) - start] == before[start:]
        if start + len(read) > len(before):
            self.seen[feed] = before[:start] + read

    @rule(kinds=st.sets(st.sampled_from(EVENT_TYPES), min_size=1), size=st.integers(1, 4))
    def filters(self, kinds: set[str], size: int) -> None:
        everything = self._read(None, None, 1000)
        chosen = self._read(None, None, 3, event_types=frozenset(kinds))
        assert chosen == [e for e in everything if e.event_type in kinds]
        parts = [self._read(None, None, 4, member=m, size=size) for m in range(size)]
        for member, part in enumerate(parts):
            assert part == [e for e in everything if group_member(e.stream_id, size) == member]

    def _read(self, feed: str | None, after: str | None, limit: int, **filters: Any) -> list[FeedEvent]:
        found: list[FeedEvent] = []
        while True:
            page = self.store.read_feed(feed, after, limit, **filters)
            found.extend(page.events)
            if page.events:
                assert page.last_position is not None
                assert page.last_position >= page.events[-1].position
            after = page.last_position
            if not page.has_more:
                return found

    # Invariants

    @invariant()
    def each_feed_holds_streams_in_order_without_gaps_or_repeats(self) -> None:
        everything = self._read(None, None, 1000)
        self._check(everything)
        for stream_type in TYPES:
            typed = self._read(stream_type, None, 1000)
            # The all-types feed filtered: the same events in the same order, at the same item and offset
            # (the tag, the position's first 10 characters, is the type feed's own).
            assert [(e.event_id, e.position[10:]) for e in everything if e.stream_type == stream_type] == [
                (e.event_id, e.position[10:]) for e in typed
            ]
            self._check(typed)

    @invariant()
    def every_closed_block_is_indexed_from_its_items(self) -> None:
        """Each item opening a block carries the index of the block before it, as that block's items say
        (they never change once the block is closed); no other item carries one."""
        head = self.store.head(ALL_FEED)
        items = self.store.block(1, head.sequence) if head else []
        assert [i.sequence for i in items] == list(range(1, len(items) + 1))
        for item in items:
            if opens_block(item.sequence):
                first, last = block_range(block_of(item.sequence) - 1)
                assert item.block_index == index_types(items[first - 1 : last])
            else:
                assert item.block_index is None

    def _check(self, events: Sequence[FeedEvent]) -> None:
        positions = [e.position for e in events]
        assert positions == sorted(positions)
        assert len(set(positions)) == len(positions)
        revisions: dict[str, int] = {}
        for event in events:
            assert event.revision == revisions.get(event.stream_id, 0) + 1
            revisions[event.stream_id] = event.revision
            assert self.written[event.stream_id, event.revision] == event.event_type
            assert event.payload == {"k": event.event_type}

    @precondition(lambda self: self.records)
    @rule()
    def deliver_everything(self) -> None:
        """Lambda's retries deliver every record in the end: then every commit is in the feeds."""
        outcome = self.writers[1].process(parse_event({"Records": list(self.records)}))
        assert outcome.failed_sequence_numbers == ()
        everything = self._read(None, None, 1000)
        assert sorted((e.stream_id, e.revision) for e in everything) == sorted(self.written)
        for stream_type in TYPES:
            typed = self._read(stream_type, None, 1000)
            expected = [key for key in self.written if self.streams[key[0]] == stream_type]
            assert sorted((e.stream_id, e.revision) for e in typed) == sorted(expected)


FeedMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)

TestFeedMachine = FeedMachine.TestCase
