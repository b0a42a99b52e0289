"""Random creates, appends, stale appends, retries, clock ticks and listings paged between them, against a
model: reads always equal the model; a listing lists every stream at its revision when the listing's last
page was asked for (prompt: also what has not settled yet; never skipped), and a stream once unless it was
updated while the listing ran or within the settle window before it, or marked for listing again."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from moto import mock_aws

from eventstore import timefmt
from eventstore.appends import NewEvent
from eventstore.domain import ANY_REVISION, Caller, WrongExpectedRevision
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.listing import StreamPage
from eventstore.pagekeys import PageKeySigner
from eventstore.table import create_table
from tests.support import listing_marker

CALLER = Caller(principal=None, request_id=None)
SETTLE = timedelta(seconds=30)
"""On the machine's clock (a tick rule moves it); long, so that no real write is slow enough to be marked."""
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
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.store = DynamoEventStore(
            client,
            "events",
            page_keys=PageKeySigner(b"stateful-test-secret"),
            listing_settle=SETTLE,
            clock=self._clock,
        )
        self.model: dict[str, list[NewEvent]] = {}
        self.updated: dict[str, str] = {}
        """Each stream's newest commit time."""
        self.done: list[tuple[str, int, list[NewEvent]]] = []
        self.listing: _Listing | None = None

    def teardown(self) -> None:
        self.mock.stop()

    def _clock(self) -> datetime:
        self.now += timedelta(milliseconds=1)  # time passes a little with every request
        return self.now

    @rule(seconds=st.sampled_from([0.0, 0.5, 5.0, 29.0, 31.0, 120.0]))
    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @initialize(events=new_events)
    def first_stream(self, events: list[NewEvent]) -> None:
        self.create(events)

    @rule(events=new_events)
    def create(self, events: list[NewEvent]) -> None:
        stream_id = str(uuid.uuid4())
        result = self.store.create("item", stream_id, events, CALLER)
        assert result.stream.revision == len(events)
        self.model[stream_id] = list(events)
        self.updated[stream_id] = result.stream.updated_at
        self.done.append((stream_id, 0, events))

    @rule(data=st.data(), events=new_events, use_any=st.booleans())
    def append(self, data: st.DataObject, events: list[NewEvent], *, use_any: bool) -> None:
        stream_id = data.draw(st.sampled_from(sorted(self.model)))
        current = len(self.model[stream_id])
        result = self.store.append("item", stream_id, ANY_REVISION if use_any else current, events, CALLER)
        assert not result.replayed
        assert result.stream.revision == current + len(events)
        self.model[stream_id].extend(events)
        self.updated[stream_id] = result.stream.updated_at
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
        """One page of a listing that other rules' writes and ticks interleave with."""
        if self.listing is None:
            self.listing = _Listing({stream_id: len(events) for stream_id, events in self.model.items()})
        page = self.store.list_streams("item", None, limit, self.listing.page_key)
        ids = [s.stream_id for s in page.streams]
        assert len(ids) == len(set(ids)) <= limit
        for stream in page.streams:
            assert stream.revision <= len(self.model[stream.stream_id])
        self.listing.pages.append(page)
        self.listing.page_key = page.next_page_key
        if page.has_more:
            return
        listing, self.listing = self.listing, None
        self._check_listing(listing.pages, listing.started)

    @invariant()
    def a_whole_listing_is_the_model(self) -> None:
        pages = [self.store.list_streams("item", None, 2, None)]
        while pages[-1].has_more:
            pages.append(self.store.list_streams("item", None, 2, pages[-1].next_page_key))
        self._check_listing(pages, {stream_id: len(events) for stream_id, events in self.model.items()})

    def _check_listing(self, pages: list[StreamPage], started: dict[str, int]) -> None:
        """Checks a listing right after its last page: `started` holds each stream's revision when its
        first page was asked for."""
        listed = [(s.stream_id, s.revision) for page in pages for s in page.streams]
        # Prompt and never skipped: every stream, at its revision when the last page was asked for,
        # however recent (the emulator's index shows every entry at once).
        newest: dict[str, int] = {}
        for stream_id, revision in listed:
            assert revision >= newest.get(stream_id, 0), (stream_id, listed)  # in update order
            newest[stream_id] = revision
        assert newest == {stream_id: len(events) for stream_id, events in self.model.items()}
        # Once, unless updated while the listing ran, or shortly before (after its first page's horizon),
        # or marked for listing again (a replay of a commit that may have landed late).
        horizon = pages[0].settled_until
        assert horizon is not None
        times = Counter(stream_id for stream_id, _ in listed)
        for stream_id, revision in started.items():
            quiet = len(self.model[stream_id]) == revision and self.updated[stream_id] <= horizon
            if quiet and listing_marker(self.store, stream_id) is None:
                assert times[stream_id] == 1, (stream_id, listed)
        # The horizon never moves back, and a poll from the last one lists everything updated after it.
        assert [p.settled_until for p in pages] == sorted(p.settled_until or "" for p in pages)
        last = pages[-1].settled_until
        assert last is not None
        polled = self.store.list_streams("item", timefmt.parse(last), 1000, None)
        later = {stream_id for stream_id, at in self.updated.items() if at > last}
        assert later <= {s.stream_id for s in polled.streams}

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
        self.pages: list[StreamPage] = []
        self.page_key: str | None = None


EventStoreMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=15, deadline=None)
test_event_store_matches_its_model = EventStoreMachine.TestCase
