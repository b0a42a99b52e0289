"""Random creates, appends, stale appends, retries and listings paged between them, against a model:
reads always equal the model, and listings list every stream, once unless it was updated meanwhile."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from moto import mock_aws

from eventstore.domain import ANY_REVISION, Caller, NewEvent, WrongExpectedRevision
from eventstore.pagekeys import PageKeySigner
from eventstore.storage import DynamoEventStore
from eventstore.table import create_table

CALLER = Caller(principal=None, request_id=None)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
new_events = st.lists(
    st.builds(
        lambda kind, payload: NewEvent(str(uuid.uuid4()), kind, payload),
        st.sampled_from(["Opened", "Changed", "Closed"]),
        json_values,
    ),
    min_size=1,
    max_size=4,
)


class EventStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        self.mock.start()
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "events")
        self.store = DynamoEventStore(
            client, "events", page_keys=PageKeySigner(b"stateful-test-secret"), listing_settle=timedelta(0)
        )
        self.model: dict[str, list[NewEvent]] = {}
        self.done: list[tuple[str, int, list[NewEvent]]] = []
        self.listing: _Listing | None = None

    def teardown(self) -> None:
        self.mock.stop()

    @initialize(events=new_events)
    def first_stream(self, events: list[NewEvent]) -> None:
        self.create(events)

    @rule(events=new_events)
    def create(self, events: list[NewEvent]) -> None:
        stream_id = str(uuid.uuid4())
        result = self.store.create("item", stream_id, events, CALLER)
        assert result.stream.revision == len(events)
        self.model[stream_id] = list(events)
        self.done.append((stream_id, 0, events))

    @rule(data=st.data(), events=new_events, use_any=st.booleans())
    def append(self, data: st.DataObject, events: list[NewEvent], *, use_any: bool) -> None:
        stream_id = data.draw(st.sampled_from(sorted(self.model)))
        current = len(self.model[stream_id])
        result = self.store.append("item", stream_id, ANY_REVISION if use_any else current, events, CALLER)
        assert not result.replayed
        assert result.stream.revision == current + len(events)
        self.model[stream_id].extend(events)
        self.done.append((stream_id, current, events))

    @rule(data=st.data(), events=new_events, offset=st.integers(-5, 5).filter(lambda n: n != 0))
    def wrong_revision(self, data: st.DataObject, events: list[NewEvent], offset: int) -> None:
        stream_id = data.draw(st.sampled_from(sorted(self.model)))
        current = len(self.model[stream_id])
        expected = max(0, current + offset)
        if expected == current:
            return
        with pytest.raises(WrongExpectedRevision) as raised:
            self.store.append("item", stream_id, expected, events, CALLER)
        assert raised.value.current == current

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        stream_id, expected, events = data.draw(st.sampled_from(self.done))
        if expected == 0:
            result = self.store.create("item", stream_id, events, CALLER)
        else:
            result = self.store.append("item", stream_id, expected, events, CALLER)
        assert result.replayed
        assert result.stream.revision == expected + len(events)

    @rule(limit=st.integers(1, 4))
    def list_a_page(self, limit: int) -> None:
        """One page of a listing that other rules' writes interleave with."""
        if self.listing is None:
            self.listing = _Listing({stream_id: len(events) for stream_id, events in self.model.items()})
        page = self.store.list_streams("item", None, limit, self.listing.page_key)
        ids = [s.stream_id for s in page.streams]
        assert len(ids) == len(set(ids)) <= limit
        for stream in page.streams:
            assert stream.revision <= len(self.model[stream.stream_id])
        self.listing.listed.extend((s.stream_id, s.revision) for s in page.streams)
        self.listing.page_key = page.next_page_key
        if page.has_more:
            return
        listed, started = self.listing.listed, self.listing.started
        self.listing = None
        times = Counter(stream_id for stream_id, _ in listed)
        for stream_id, revision in started.items():
            newest = max((r for s, r in listed if s == stream_id), default=0)
            assert newest >= revision, (stream_id, listed)
            if len(self.model[stream_id]) == revision:  # not updated while the listing ran
                assert (times[stream_id], newest) == (1, revision)

    @invariant()
    def a_whole_listing_is_the_model(self) -> None:
        listed: list[tuple[str, int]] = []
        key = None
        while True:
            page = self.store.list_streams("item", None, 2, key)
            listed.extend((s.stream_id, s.revision) for s in page.streams)
            if not page.has_more:
                break
            key = page.next_page_key
        assert sorted(listed) == sorted((stream_id, len(events)) for stream_id, events in self.model.items())

    @invariant()
    def reads_equal_the_model(self) -> None:
        for stream_id, expected in self.model.items():
            found: list[Any] = []
            after = 0
            while True:
                page = self.store.read("item", stream_id, after, 3)
                found.extend(page.events)
                after = page.last_evaluated_revision
                if not page.has_more:
                    break
            assert [e.revision for e in found] == list(range(1, len(expected) + 1))
            assert [(e.event_id, e.event_type, e.payload) for e in found] == [
                (e.event_id, e.event_type, e.payload) for e in expected
            ]
            assert self.store.describe("item", stream_id).revision == len(expected)


class _Listing:
    def __init__(self, started: dict[str, int]) -> None:
        self.started = started
        """Each stream's revision when the listing began."""
        self.listed: list[tuple[str, int]] = []
        self.page_key: str | None = None


EventStoreMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=15, deadline=None)
test_event_store_matches_its_model = EventStoreMachine.TestCase
