"""The client's snapshots and `load`, and the CLI's `snapshot`, against the fake API (the memory store)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from eventstore_client import (
    EventStoreClient,
    NewEvent,
    RecordedEvent,
    SnapshotBeyondRevision,
    SnapshotConflict,
    SnapshotNotFound,
)
from tests.client.test_cli import json_lines, one_line_error, run

if TYPE_CHECKING:
    from tests.client.fakeserver import FakeServer


def total(state: dict[str, Any], event: RecordedEvent) -> dict[str, Any]:
    return {"sum": state["sum"] + event.payload["n"], "count": state["count"] + 1}


ZERO: dict[str, Any] = {"sum": 0, "count": 0}


def stream_of(client: EventStoreClient, count: int, stream_type: str = "Order") -> str:
    stream_id = client.create_stream(stream_type, NewEvent("Added", {"n": 1})).stream_id
    for n in range(2, count + 1):
        client.append(stream_type, stream_id, NewEvent("Added", {"n": n}), expected_revision=n - 1)
    return stream_id


def snapshot_requests(fake: FakeServer, method: str) -> list[Any]:
    return [r for r in fake.store.requests if r.method == method and r.path.endswith("/snapshot")]


def event_reads(fake: FakeServer) -> list[Any]:
    return [r for r in fake.store.requests if r.method == "GET" and r.path.endswith("/events")]


def test_put_and_get_snapshot(client: EventStoreClient) -> None:
    stream_id = stream_of(client, 3)
    with pytest.raises(SnapshotNotFound):
        client.get_snapshot("Order", stream_id)
    written = client.put_snapshot("Order", stream_id, 2, "total-v1", {"sum": 3, "count": 2})
    assert (written.revision, written.snapshot_type, written.replayed) == (2, "total-v1", False)
    assert client.put_snapshot("Order", stream_id, 2, "total-v1", {"sum": 3, "count": 2}).replayed
    got = client.get_snapshot("Order", stream_id)
    assert (got.revision, got.snapshot_type, got.state, got.created_at) == (
        2, "total-v1", {"sum": 3, "count": 2}, written.created_at,
    )  # fmt: skip
    with pytest.raises(SnapshotConflict) as conflict:
        client.put_snapshot("Order", stream_id, 1, "total-v1", {"sum": 1, "count": 1})
    assert conflict.value.stored_revision == 2
    with pytest.raises(SnapshotBeyondRevision) as beyond:
        client.put_snapshot("Order", stream_id, 4, "total-v1", {})
    assert beyond.value.current_revision == 3


def test_load_reads_the_snapshot_then_only_the_events_after_it(
    client: EventStoreClient, fake: FakeServer
) -> None:
    stream_id = stream_of(client, 25)
    plain = client.load("Order", stream_id, ZERO, total)
    assert (plain.state, plain.revision, plain.snapshot_revision, plain.events_read) == (
        {"sum": 325, "count": 25}, 25, None, 25,
    )  # fmt: skip
    assert not plain.snapshot_written
    assert snapshot_requests(fake, "GET") == []  # no snapshot_type: no snapshot read

    first = client.load("Order", stream_id, ZERO, total, snapshot_type="total-v1", snapshot_every=10)
    assert (first.state, first.snapshot_revision, first.events_read, first.snapshot_written) == (
        plain.state, None, 25, True,
    )  # fmt: skip
    assert client.get_snapshot("Order", stream_id).revision == 25
    for n in range(26, 31):
        client.append("Order", stream_id, NewEvent("Added", {"n": n}), expected_revision=n - 1)
    fake.store.requests.clear()
    second = client.load("Order", stream_id, ZERO, total, snapshot_type="total-v1", snapshot_every=10)
    assert (second.state, second.revision, second.snapshot_revision, second.events_read) == (
        {"sum": 465, "count": 30}, 30, 25, 5,
    )  # fmt: skip
    assert not second.snapshot_written  # 5 new events, fewer than snapshot_every
    assert [r.query["after-revision"] for r in event_reads(fake)] == ["25"]
    assert second.state == client.load("Order", stream_id, ZERO, total).state


def test_load_ignores_a_snapshot_of_another_type_and_reads_every_page(
    client: EventStoreClient, fake: FakeServer
) -> None:
    stream_id = stream_of(client, 4)
    many = [NewEvent("Added", {"n": 0}) for _ in range(100)]
    for batch in range(12):  # 1,204 events: two pages of 1,000 at most
        client.append("Order", stream_id, many, expected_revision=4 + batch * 100)
    client.put_snapshot("Order", stream_id, 4, "total-v0", {"wrong": "shape"})
    fake.store.requests.clear()
    loaded = client.load("Order", stream_id, ZERO, total, snapshot_type="total-v1", snapshot_every=1)
    assert (loaded.state, loaded.revision, loaded.snapshot_revision) == (
        {"sum": 10, "count": 1204},
        1204,
        None,
    )
    assert len(event_reads(fake)) == 2
    snapshot = client.get_snapshot("Order", stream_id)
    assert (snapshot.snapshot_type, snapshot.revision) == ("total-v1", 1204)


def test_a_racing_writers_newer_snapshot_does_not_fail_the_load(client: EventStoreClient) -> None:
    stream_id = stream_of(client, 6)

    def fold_while_another_loader_snapshots(state: dict[str, Any], event: RecordedEvent) -> dict[str, Any]:
        if event.revision == 6:
            client.put_snapshot("Order", stream_id, 6, "total-v1", {"sum": 21, "count": 6})
        return total(state, event)

    loaded = client.load(
        "Order",
        stream_id,
        ZERO,
        fold_while_another_loader_snapshots,
        snapshot_type="total-v1",
        snapshot_every=1,
    )
    # Its own snapshot at 6 differs from nothing: the other's is the same state, so this one is a replay.
    assert loaded.state == {"sum": 21, "count": 6}
    client.append("Order", stream_id, NewEvent("Added", {"n": 7}), expected_revision=6)

    def slower(state: dict[str, Any], event: RecordedEvent) -> dict[str, Any]:
        if event.revision == 7:
            client.append("Order", stream_id, NewEvent("Added", {"n": 8}), expected_revision=7)
            client.put_snapshot("Order", stream_id, 8, "total-v1", {"sum": 36, "count": 8})
        return total(state, event)

    late = client.load("Order", stream_id, ZERO, slower, snapshot_type="total-v1", snapshot_every=1)
    assert (late.revision, late.snapshot_written) == (7, False)  # its snapshot at 7 lost to the one at 8
    assert client.get_snapshot("Order", stream_id).revision == 8


@dataclass(frozen=True)
class Person:
    name: str | None
    events: int


def test_load_with_a_data_subject_and_converters_starts_over_once_the_subject_is_erased(
    client: EventStoreClient, fake: FakeServer
) -> None:
    stream_id = client.create_stream(
        "Person", NewEvent("Named", {"name": "Ada"}, data_subject="p-1")
    ).stream_id

    def named(person: Person, event: RecordedEvent) -> Person:
        name = event.payload["name"] if event.payload is not None else None
        return Person(name, person.events + 1)

    options: dict[str, Any] = {
        "snapshot_type": "person-v1",
        "snapshot_every": 1,
        "data_subject": "p-1",
        "to_json": lambda p: {"name": p.name, "events": p.events},
        "from_json": lambda d: Person(d["name"], d["events"]),
    }
    first = client.load("Person", stream_id, Person(None, 0), named, **options)
    assert (first.state, first.snapshot_written) == (Person("Ada", 1), True)
    assert client.get_snapshot("Person", stream_id).data_subject == "p-1"
    assert client.load("Person", stream_id, Person(None, 0), named, **options).snapshot_revision == 1
    client.erase_data_subject("p-1")
    assert client.get_snapshot("Person", stream_id).state_erased
    after = client.load("Person", stream_id, Person(None, 0), named, **options)
    # The erased snapshot is not used; the event reads back erased; the new snapshot is refused (410).
    assert (after.state, after.snapshot_revision, after.snapshot_written) == (Person(None, 1), None, False)


def test_load_refuses_snapshot_every_without_a_type(client: EventStoreClient) -> None:
    with pytest.raises(ValueError, match="snapshot_type"):
        client.load("Order", "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11", ZERO, total, snapshot_every=5)


def test_cli_snapshot_put_and_get(cli_env: FakeServer, client: EventStoreClient) -> None:
    stream_id = stream_of(client, 2)
    put = run(
        "snapshot",
        "put",
        "Order",
        stream_id,
        "--revision",
        "2",
        "--snapshot-type",
        "v1",
        "--state",
        '{"a":1}',
    )
    assert put.code == 0, put.err
    assert put.out == f"stored snapshot of Order/{stream_id} at revision 2\n"
    got = run("--json", "snapshot", "get", "Order", stream_id)
    assert got.code == 0, got.err
    (document,) = json_lines(got.out)
    assert {k: document["snapshot"][k] for k in ("revision", "snapshotType", "state")} == {
        "revision": 2, "snapshotType": "v1", "state": {"a": 1},
    }  # fmt: skip
    stale = run(
        "snapshot", "put", "Order", stream_id, "--revision", "1", "--snapshot-type", "v1", "--state", "1"
    )
    assert stale.code == 3
    assert "snapshot" in one_line_error(stale)
    missing = run("snapshot", "get", "Order", "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11")
    assert missing.code == 2
    bad = run("snapshot", "put", "Order", stream_id, "--revision", "2", "--snapshot-type", "", "--state", "1")
    assert bad.code == 4
    assert "/body/snapshotType" in one_line_error(bad)
    assert json.loads(run("--json", "snapshot", "get", "Order", stream_id).out)["snapshot"]["revision"] == 2
