"""What only the DynamoDB store does: racing "any" appends, faults of the client, listing markers for late
commits, the settle window, BatchGetItem, page-key layout and index backfills. The contract every store
holds is test_store_contract.py."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eventstore import timefmt
from eventstore.appends import NewEvent
from eventstore.commits import content_digest
from eventstore.domain import ANY_REVISION, InvalidRequest, ServiceUnavailable
from eventstore.dynamodb import writes
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.dynamodb.writes import ANY_BACKOFF_MAX_SECONDS
from eventstore.pagekeys import PageKeySigner
from tests.core.conftest import PAGE_KEY_SECRET
from tests.core.test_store_contract import CALLER, all_events, all_streams, events, listed, new_stream
from tests.support import listing_marker


@pytest.fixture(
    params=[pytest.param("moto_store", id="moto"), pytest.param("server_store", id="moto-server")]
)
def store(request: pytest.FixtureRequest) -> DynamoEventStore:
    """The DynamoDB store on each emulator (the contract suite's `store` also runs the in-memory one)."""
    fixture: DynamoEventStore = request.getfixturevalue(request.param)
    return fixture


def test_an_any_append_that_loses_a_race_is_retried_not_refused(
    store: DynamoEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_id = new_stream(store)
    stale = store.writer.recent_or_raise("order", stream_id)
    store.append("order", stream_id, 1, events("Winner"), CALLER)
    reads = iter([stale])
    fresh = store.writer.recent_or_raise
    monkeypatch.setattr(store.writer, "recent_or_raise", lambda t, i: next(reads, None) or fresh(t, i))
    result = store.append("order", stream_id, ANY_REVISION, events("Loser"), CALLER)
    assert result.stream.revision == 3
    assert [e.event_type for e in all_events(store, "order", stream_id)] == ["Created", "Winner", "Loser"]


class _ClientStandIn:
    """Answers like the DynamoDB client it wraps; subclasses change one operation (a fault to inject)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


ANY_WRITERS = 16
ANY_ROUNDS = 2


def test_sixteen_writers_racing_any_appends_all_succeed_gapless_without_duplicates(
    store: DynamoEventStore,
) -> None:
    # The fixtures' clients run one request at a time (tests/support.py, OneRequestAtATime): appends are
    # served one by one (tens of ms each on a busy machine), so what the last writer of a round waits is
    # that throughput, not the store's budget, which the next test holds to.
    store = DynamoEventStore(
        store.table.client,
        store.table.name,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
        any_append_budget=timedelta(seconds=120),
    )
    stream_id = new_stream(store, "tally")
    batches = {(w, r): events("Counted") for w in range(ANY_WRITERS) for r in range(ANY_ROUNDS)}
    barrier = threading.Barrier(ANY_WRITERS)
    revisions: list[int] = []
    attempts: list[int] = []

    def writer(number: int) -> None:
        for round_number in range(ANY_ROUNDS):
            barrier.wait(timeout=60)  # every writer reads the same newest commit: all but one lose
            batch = batches[(number, round_number)]
            result = store.append("tally", stream_id, ANY_REVISION, batch, CALLER)
            assert not result.replayed
            revisions.append(result.stream.revision)
            attempts.append(result.attempts)

    with ThreadPoolExecutor(ANY_WRITERS) as pool:
        futures = [pool.submit(writer, n) for n in range(ANY_WRITERS)]
    failures = [f.exception() for f in futures if f.exception() is not None]
    assert not [f for f in failures if not isinstance(f, threading.BrokenBarrierError)], failures
    appended = ANY_WRITERS * ANY_ROUNDS
    assert max(attempts) > 1  # the writers did race
    assert sorted(revisions) == list(range(2, appended + 2))
    read = all_events(store, "tally", stream_id, limit=1000)
    assert [e.revision for e in read] == list(range(1, appended + 2))
    assert sorted(e.event_id for e in read[1:]) == sorted(b[0].event_id for b in batches.values())


class _Rivals(_ClientStandIn):
    """Before each commit write, a rival writer takes its key: contention that never ends."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.commit_puts = 0

    def put_item(self, **kwargs: Any) -> Any:
        item = kwargs["Item"]
        if int(item["revision"]["N"]) >= 1:
            self.commit_puts += 1
            rival_events = [{"M": {**e["M"], "id": {"S": str(uuid.uuid4())}}} for e in item["events"]["L"]]
            rival = {
                **item,
                "digest": {"S": "rival"},
                "writeId": {"S": "rival"},
                "events": {"L": rival_events},
            }
            self._client.put_item(**{**kwargs, "Item": rival})
        return self._client.put_item(**kwargs)


class _TwinWinsThenBusy(_ClientStandIn):
    """The first commit write races a twin of the same request (the client's retry, in another function
    instance), which wins; then more appends land than an "any" append reads back (10)."""

    def __init__(self, client: Any, others: DynamoEventStore, stream_id: str) -> None:
        super().__init__(client)
        self._others, self._stream_id = others, stream_id
        self._armed = True

    def put_item(self, **kwargs: Any) -> Any:
        if self._armed and int(kwargs["Item"]["revision"]["N"]) >= 1:
            self._armed = False
            self._client.put_item(**{**kwargs, "Item": {**kwargs["Item"], "writeId": {"S": "twin"}}})
            for _ in range(11):
                self._others.append("tally", self._stream_id, ANY_REVISION, events("Other"), CALLER)
        return self._client.put_item(**kwargs)


def test_an_any_append_whose_twin_won_the_race_is_a_replay_however_busy_the_stream(
    store: DynamoEventStore,
) -> None:
    stream_id = new_stream(store, "tally")
    racing = DynamoEventStore(
        _TwinWinsThenBusy(store.table.client, store, stream_id),  # type: ignore[arg-type]
        store.table.name,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
    )
    batch = events("Counted")
    result = racing.append("tally", stream_id, ANY_REVISION, batch, CALLER)
    assert result.replayed
    assert result.stream.revision == 2
    ids = [e.event_id for e in all_events(store, "tally", stream_id)]
    assert ids.count(batch[0].event_id) == 1
    assert len(ids) == 13


def test_an_any_append_that_loses_every_race_gives_up_after_its_budget_with_a_503(
    store: DynamoEventStore,
) -> None:
    stream_id = new_stream(store, "tally")
    rivals = _Rivals(store.table.client)
    budget = timedelta(seconds=2)
    contended = DynamoEventStore(
        rivals,  # type: ignore[arg-type]
        store.table.name,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
        any_append_budget=budget,
    )
    batch = events("Counted")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        contended.append("tally", stream_id, ANY_REVISION, batch, CALLER)
    elapsed = time.monotonic() - started
    assert raised.value.retry_after_seconds >= 1
    # It kept trying until the next pause would have overrun the budget, far more than 5 times.
    assert budget.total_seconds() - ANY_BACKOFF_MAX_SECONDS < elapsed < budget.total_seconds() + 2
    assert rivals.commit_puts > 5
    read = all_events(store, "tally", stream_id, limit=1000)
    assert len(read) == rivals.commit_puts + 1
    assert batch[0].event_id not in {e.event_id for e in read}


def test_a_busy_stream_does_not_cost_a_page_per_commit(store: DynamoEventStore) -> None:
    busy = new_stream(store, "meter")
    for revision in range(1, 30):
        store.append("meter", busy, revision, events("Read"), CALLER)
    quiet = new_stream(store, "meter")
    pages = []
    key = None
    while True:
        page = store.list_streams("meter", None, 10, key)
        pages.append([(s.stream_id, s.revision) for s in page.streams])
        if not page.has_more:
            break
        key = page.next_page_key
    # 31 index entries; superseded ones make a page read on (up to 5 rounds of 10 entries).
    assert pages == [[(busy, 30), (quiet, 1)]]


class _SlowPuts(_ClientStandIn):
    """A DynamoDB client whose PutItem calls take longer (SDK retries, a slow network): the n-th call
    `delays[n]` seconds (`delay` once the list is used up). The calls numbered in `lose` write, but their
    answer is lost and botocore's retry sends the same request again. With `fail`, they end in an error
    instead (retries used up), though written."""

    def __init__(
        self,
        client: Any,
        delay: float,
        delays: Sequence[float] = (),
        *,
        lose: Sequence[int] = (),
        fail: Sequence[int] = (),
    ) -> None:
        super().__init__(client)
        self._delays = list(delays)
        self._delay = delay
        self._lose, self._fail = set(lose), set(fail)
        self._calls = 0

    def put_item(self, **kwargs: Any) -> Any:
        call, self._calls = self._calls, self._calls + 1
        answer = self._client.put_item(**kwargs)
        time.sleep(self._delays[call] if call < len(self._delays) else self._delay)
        if call in self._fail:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutItem"
            )
        if call in self._lose:
            return self._client.put_item(**kwargs)  # may fail its condition: the item is there now
        return answer


SETTLE = timedelta(milliseconds=200)


def _settled_store(
    store: DynamoEventStore,
    client: Any = None,
    settle: timedelta = SETTLE,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DynamoEventStore:
    return DynamoEventStore(
        client or store.table.client,
        store.table.name,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=settle,
        clock=clock,
    )


def test_a_commit_that_lands_late_gets_a_fresh_listing_entry(store: DynamoEventStore) -> None:
    late = _settled_store(store, _SlowPuts(store.table.client, delay=SETTLE.total_seconds()))
    prompt = _settled_store(store)
    late_id, prompt_id = new_stream(late, "parcel"), new_stream(prompt, "parcel")
    late_stamp = timefmt.parse(late.describe("parcel", late_id).updated_at)
    prompt_stamp = timefmt.parse(prompt.describe("parcel", prompt_id).updated_at)
    time.sleep(2 * SETTLE.total_seconds())
    # A cursor that had passed the late commit's stamp before the commit was visible still finds it.
    listing = all_streams(prompt, "parcel", late_stamp, 10)
    assert [(s.stream_id, s.revision) for s in listing] == [(late_id, 1), (prompt_id, 1)]
    assert timefmt.parse(listing[0].updated_at) > late_stamp + SETTLE / 2
    # A prompt write gets no second entry (the marker was stamped before it); the marker is not an event.
    assert listed(prompt, "parcel", prompt_stamp, 10) == []
    assert [e.revision for e in all_events(prompt, "parcel", late_id)] == [1]
    assert prompt.describe("parcel", late_id).revision == 1


def test_notify_marks_commits_it_sees_written_late(store: DynamoEventStore) -> None:
    settled = _settled_store(store)
    stream_id = new_stream(settled, "parcel")
    settled.append("parcel", stream_id, 1, events("Sent"), CALLER)
    newest = settled.commits_between(stream_id, 2, 2)[0]
    stamp = timefmt.parse(newest.committed_at)
    assert not settled.mark_if_late(newest, stamp + SETTLE / 4)
    assert not _settled_store(store).mark_if_late(newest, stamp + SETTLE / 4)
    assert settled.mark_if_late(newest, stamp + 2 * SETTLE)
    # An older mark never moves the marker back.
    assert not settled.markers.mark_for_listing(settled.commits_between(stream_id, 1, 1)[0])
    time.sleep(2 * SETTLE.total_seconds())
    listing = all_streams(settled, "parcel", stamp, 10)
    assert [(s.stream_id, s.revision) for s in listing] == [(stream_id, 2)]
    assert settled.cursors([stream_id])[stream_id].notified == 0


def test_a_late_commit_found_by_the_sdk_retry_is_written_not_replayed_and_marked(
    store: DynamoEventStore,
) -> None:
    client = _SlowPuts(store.table.client, delay=0, delays=[SETTLE.total_seconds()], lose=[0])
    late = _settled_store(store, client)
    stream_id = str(uuid.uuid4())
    assert not late.create("parcel", stream_id, events("Created"), CALLER).replayed  # found its own write
    stamp = timefmt.parse(late.describe("parcel", stream_id).updated_at)
    time.sleep(2 * SETTLE.total_seconds())
    assert listed(late, "parcel", stamp, 10) == [stream_id]


@pytest.mark.parametrize("lose", [[], [1]], ids=["slow", "slow-and-its-answer-lost"])
def test_a_slow_marker_write_is_stamped_again(store: DynamoEventStore, lose: list[int]) -> None:
    slow = SETTLE.total_seconds()
    late = _settled_store(store, _SlowPuts(store.table.client, delay=0, delays=[slow, slow], lose=lose))
    stream_id = new_stream(late, "parcel")  # the commit, then its marker: both slow; the second marker not
    stamp = timefmt.parse(late.describe("parcel", stream_id).updated_at)
    marked = timefmt.parse(listing_marker(store, stream_id)["committedAt"]["S"])
    assert marked > stamp + timedelta(seconds=2 * slow)


def test_a_page_key_of_the_earlier_layout_is_a_clear_400(store: DynamoEventStore) -> None:
    new_stream(store, "ticket")
    signer = PageKeySigner(PAGE_KEY_SECRET)
    lower = "1970-01-01T00:00:00.000001Z"
    old = signer.encode({"type": "ticket", "after": lower, "key": {"streamType": {"S": "ticket"}}})
    with pytest.raises(InvalidRequest) as raised:
        store.list_streams("ticket", None, 1, old)
    assert "earlier version" in raised.value.params[0].reason


class _BackfillingIndex(_ClientStandIn):
    """A DynamoDB client whose listing index is still being built (after a change of its layout)."""

    def query(self, **kwargs: Any) -> Any:
        if "IndexName" in kwargs:
            message = "Cannot read from backfilling global secondary index: commitsByTypeAndTime"
            raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Query")
        return self._client.query(**kwargs)


def test_listing_while_the_index_is_built_is_unavailable_not_an_error(store: DynamoEventStore) -> None:
    building = _settled_store(store, _BackfillingIndex(store.table.client))
    with pytest.raises(ServiceUnavailable):
        building.list_streams("ticket", None, 10, None)


class _UnprocessedKeys(_ClientStandIn):
    """A DynamoDB client whose BatchGetItem leaves every key unprocessed `times` times (throttling)."""

    def __init__(self, client: Any, times: int) -> None:
        super().__init__(client)
        self.times = times
        self.calls = 0

    def batch_get_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.times > 0:
            self.times -= 1
            return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}
        return self._client.batch_get_item(**kwargs)


def test_unprocessed_batch_keys_are_retried_and_otherwise_listed_not_dropped(store: DynamoEventStore) -> None:
    stream_id = new_stream(store, "meter")
    store.append("meter", stream_id, 1, events("Read"), CALLER)
    retried = _UnprocessedKeys(store.table.client, times=2)
    listing = all_streams(_settled_store(store, retried, timedelta(0)), "meter", None, 1)
    assert [(s.stream_id, s.revision) for s in listing] == [(stream_id, 2)]
    assert retried.calls >= 3
    # Never answered: the superseded entry is listed too (a stream twice is harmless; skipping it is not).
    hopeless = _UnprocessedKeys(store.table.client, times=10**6)
    listing = all_streams(_settled_store(store, hopeless, timedelta(0)), "meter", None, 1)
    assert [(s.stream_id, s.revision) for s in listing] == [(stream_id, 1), (stream_id, 2)]


def test_a_retry_of_an_append_that_failed_though_written_marks_it(store: DynamoEventStore) -> None:
    # A clock the test moves, so "late" and "prompt" do not depend on the machine's load.
    now = [datetime.now(UTC)]
    failing = _settled_store(store, _SlowPuts(store.table.client, delay=0, fail=[0]), clock=lambda: now[0])
    stream_id, first = str(uuid.uuid4()), events("Created")
    with pytest.raises(ServiceUnavailable):
        failing.create("parcel", stream_id, first, CALLER)
    now[0] += SETTLE  # the client's retry comes later than half the settle window
    assert failing.create("parcel", stream_id, first, CALLER).replayed
    stamp = timefmt.parse(failing.describe("parcel", stream_id).updated_at)
    now[0] += 2 * SETTLE
    assert listed(failing, "parcel", stamp, 10) == [stream_id]
    # A prompt retry marks nothing.
    prompt_id = str(uuid.uuid4())
    prompt = _settled_store(store, _SlowPuts(store.table.client, delay=0, fail=[0]), clock=lambda: now[0])
    with pytest.raises(ServiceUnavailable):
        prompt.create("parcel", prompt_id, first := events("Created"), CALLER)
    assert prompt.create("parcel", prompt_id, first, CALLER).replayed
    assert listing_marker(store, prompt_id) is None


def test_a_stream_created_just_before_a_listing_is_in_it(store: DynamoEventStore) -> None:
    now = [datetime.now(UTC)]
    settled = _settled_store(store, clock=lambda: now[0])
    stream_id = new_stream(settled, "parcel")
    page = settled.list_streams("parcel", None, 10, None)
    assert [(s.stream_id, s.revision) for s in page.streams] == [(stream_id, 1)]
    assert not page.has_more
    # Shown before it settled: the listing's horizon is before it, so a poll from there lists it again.
    assert page.settled_until is not None
    assert page.settled_until < page.streams[0].updated_at
    now[0] += 2 * SETTLE
    assert listed(settled, "parcel", timefmt.parse(page.settled_until), 10) == [stream_id]


def test_a_stream_appended_to_within_the_settle_window_is_listed_at_its_newest_revision(
    store: DynamoEventStore,
) -> None:
    # A clock the test moves: what has settled depends on the test's steps, not on the machine's speed.
    now = [datetime.now(UTC)]
    window = timedelta(seconds=30)
    settled = _settled_store(store, settle=window, clock=lambda: now[0])
    busy = new_stream(settled, "meter")
    now[0] += timedelta(milliseconds=1)  # created after busy, so listed after it
    quiet = new_stream(settled, "meter")
    now[0] += 2 * window
    settled.append("meter", busy, 1, events("Read"), CALLER)  # not settled when the listings run
    page = settled.list_streams("meter", None, 10, None)
    assert [(s.stream_id, s.revision) for s in page.streams] == [(quiet, 1), (busy, 2)]
    # A page at a time, the cursor passes the settled revision first: the update that had not settled
    # when it did comes again at the end.
    listing = all_streams(settled, "meter", None, 1)
    assert [(s.stream_id, s.revision) for s in listing] == [(busy, 1), (quiet, 1), (busy, 2)]
    assert page.settled_until is not None
    now[0] += 2 * window
    after = timefmt.parse(page.settled_until)
    assert [(s.stream_id, s.revision) for s in all_streams(settled, "meter", after, 10)] == [(busy, 2)]


class _LaggingIndex(_ClientStandIn):
    """A DynamoDB client whose listing index does not show the entries of the `hidden` streams yet."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.hidden: set[str] = set()

    def query(self, **kwargs: Any) -> Any:
        response = self._client.query(**kwargs)
        if "IndexName" in kwargs:
            response["Items"] = [i for i in response["Items"] if i["streamId"]["S"] not in self.hidden]
        return response


def test_a_tail_longer_than_a_page_is_paged_under_the_horizon_it_started_with(
    store: DynamoEventStore,
) -> None:
    now = [datetime.now(UTC)]
    lagging = _LaggingIndex(store.table.client)
    clocked = DynamoEventStore(
        lagging,  # type: ignore[arg-type]
        store.table.name,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(seconds=30),
        clock=lambda: now[0],
    )
    ids = []
    for _ in range(5):
        now[0] += timedelta(milliseconds=1)
        ids.append(new_stream(clocked, "crate"))
    lagging.hidden = {ids[1]}  # written, but not in the index yet when the first page is read
    first = clocked.list_streams("crate", None, 2, None)
    assert [s.stream_id for s in first.streams] == [ids[0], ids[2]]
    # By the time the next pages are read, the entry is there and every entry is older than the
    # settle window; the listing still ends at the horizon it started with, which the entry it could
    # not see is after: a poll from there lists it.
    lagging.hidden = set()
    now[0] += timedelta(seconds=60)
    pages = [first]
    while pages[-1].has_more:
        pages.append(clocked.list_streams("crate", None, 2, pages[-1].next_page_key))
    assert [s.stream_id for page in pages for s in page.streams] == [ids[0], ids[2], ids[3], ids[4]]
    horizons = {page.settled_until for page in pages}
    assert horizons == {first.settled_until}
    assert first.settled_until is not None
    assert listed(clocked, "crate", timefmt.parse(first.settled_until), 10) == ids


def test_a_listing_served_by_a_container_whose_clock_is_behind_ends_at_its_first_horizon(
    store: DynamoEventStore,
) -> None:
    ids = [new_stream(store, "ticket") for _ in range(3)]
    now = [datetime.now(UTC)]
    skewed = DynamoEventStore(
        store.table.client,
        store.table.name,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
        clock=lambda: now[0],
    )
    first = skewed.list_streams("ticket", None, 1, None)
    # The next pages are served by a container whose clock is behind: the listing's horizon stays.
    now[0] -= timedelta(seconds=5)
    rest: list[str] = []
    key = first.next_page_key
    while key is not None:
        page = skewed.list_streams("ticket", None, 1, key)
        rest.extend(s.stream_id for s in page.streams)
        key = page.next_page_key
    assert [s.stream_id for s in first.streams] + rest == ids


def test_an_append_digests_its_events_once(store: DynamoEventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    digested: list[int] = []

    def counted(batch: Sequence[NewEvent], fingerprints: Sequence[str | None] = ()) -> str:
        digested.append(len(batch))
        return content_digest(batch, fingerprints)

    monkeypatch.setattr(writes, "content_digest", counted)
    stream_id = new_stream(store)
    store.append("order", stream_id, 1, events("A"), CALLER)
    store.append("order", stream_id, ANY_REVISION, events("B", "C"), CALLER)
    assert digested == [1, 1, 2]  # one per create or append, not one more per commit item
