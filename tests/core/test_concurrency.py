"""16 writers race appends through the API: at the same expected revision one wins each round, no loss;
appending "any", every append succeeds, gapless."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_runtime.testing import LocalStore

WRITERS = 16
ROUNDS = 200


@pytest.mark.slow
def test_racing_appends_have_exactly_one_winner_per_round(local_store: LocalStore) -> None:
    api = local_store.client()
    created = api.request("POST", "/streams/race", {"initialEvent": {"eventType": "Started"}})
    assert created.status == 201, created.body
    stream_id = created.json()["stream"]["streamId"]
    barrier = threading.Barrier(WRITERS)
    acknowledged: dict[int, str] = {}
    outcomes: Counter[int] = Counter()
    lock = threading.Lock()

    def writer(writer_id: int) -> None:
        for round_number in range(ROUNDS):
            event_id = str(uuid.uuid4())
            barrier.wait(timeout=60)
            response = api.request(
                "PUT",
                f"/streams/race/{stream_id}/events/{round_number + 2}",
                {"event": {"eventType": "Raced", "eventId": event_id, "payload": {"writer": writer_id}}},
            )
            with lock:
                outcomes[response.status] += 1
                if response.status == 201:
                    assert round_number + 2 not in acknowledged, "two writers were told they won one round"
                    acknowledged[round_number + 2] = event_id
                else:
                    problem = response.json()
                    assert response.status == 409, problem
                    assert problem["type"] == "urn:eventstore:problem:wrong-expected-revision"
                    assert problem["currentRevision"] >= round_number + 2

    with ThreadPoolExecutor(WRITERS) as pool:
        for future in [pool.submit(writer, n) for n in range(WRITERS)]:
            future.result()

    assert outcomes == {201: ROUNDS, 409: ROUNDS * (WRITERS - 1)}
    events: list[Any] = []
    after = 0
    while True:
        path = f"/streams/race/{stream_id}/events?after-revision={after}&limit=1000"
        page = api.request("GET", path).json()
        events.extend(page["eventPage"]["events"])
        after = page["eventPage"]["lastEvaluatedRevision"]
        if not page["eventPage"]["hasMore"]:
            break
    assert [e["revision"] for e in events] == list(range(1, ROUNDS + 2))
    assert {e["revision"]: e["eventId"] for e in events[1:]} == acknowledged


ANY_WRITERS = 16
ANY_APPENDS = 3


@pytest.mark.slow
def test_writers_appending_any_to_one_stream_all_succeed(local_store: LocalStore) -> None:
    api = local_store.client()
    created = api.request("POST", "/streams/tally", {"initialEvent": {"eventType": "Opened"}})
    assert created.status == 201, created.body
    stream_id = created.json()["stream"]["streamId"]
    barrier = threading.Barrier(ANY_WRITERS)
    sent: list[str] = []
    refused: list[Any] = []

    def writer(_: int) -> None:
        client = local_store.client()
        barrier.wait(timeout=60)
        for _round in range(ANY_APPENDS):
            event_id = str(uuid.uuid4())
            body = {"expectedRevision": "any", "events": [{"eventType": "Counted", "eventId": event_id}]}
            response = client.request("POST", f"/streams/tally/{stream_id}/events", body)
            if response.status == 201:
                sent.append(event_id)
            else:
                refused.append(response)

    with ThreadPoolExecutor(ANY_WRITERS) as pool:
        for future in [pool.submit(writer, n) for n in range(ANY_WRITERS)]:
            future.result()
    assert not refused, [(r.status, r.body) for r in refused]
    page = api.request("GET", f"/streams/tally/{stream_id}/events?limit=1000").json()["eventPage"]
    assert [e["revision"] for e in page["events"]] == list(range(1, ANY_WRITERS * ANY_APPENDS + 2))
    assert sorted(e["eventId"] for e in page["events"][1:]) == sorted(sent)
