"""The client's and the CLI's lifecycle calls (delete, tombstone, stream metadata) against the fake server,
which runs the API's own operations over the reference store."""

from __future__ import annotations

import json

import pytest

from eventstore_client import (
    EventStoreClient,
    InvalidNotification,
    MetadataConflict,
    NewEvent,
    StreamDeleted,
    StreamMetadata,
    StreamNotFound,
    WrongExpectedRevision,
    parse_body,
)
from tests.client.fakeserver import FakeServer
from tests.client.test_cli import one_line_error, run


def test_delete_restart_and_tombstone(client: EventStoreClient) -> None:
    created = client.create_stream("Order", [NewEvent("A"), NewEvent("B")])
    stream_id = created.stream_id
    with pytest.raises(WrongExpectedRevision):
        client.delete_stream("Order", stream_id, expected_revision=1)
    client.delete_stream("Order", stream_id, expected_revision=2)
    client.delete_stream("Order", stream_id)  # idempotent
    with pytest.raises(StreamNotFound):
        client.get_stream("Order", stream_id)
    assert client.append("Order", stream_id, NewEvent("C"), revision=3).revision == 3
    assert [e.revision for e in client.read_events("Order", stream_id)] == [3]
    client.delete_stream("Order", stream_id, tombstone=True)
    with pytest.raises(StreamDeleted):
        list(client.read_events("Order", stream_id))
    with pytest.raises(StreamDeleted):
        client.append("Order", stream_id, NewEvent("D"), expected_revision="any")


def test_metadata_round_trip_and_compare_and_set(client: EventStoreClient) -> None:
    stream_id = client.create_stream("Order", [NewEvent(f"E{n}") for n in range(5)]).stream_id
    assert client.get_metadata("Order", stream_id) == StreamMetadata()
    stored = client.set_metadata("Order", stream_id, truncate_before=4, expected_revision=0)
    assert stored == StreamMetadata(truncate_before=4, revision=1)
    assert [e.revision for e in client.read_events("Order", stream_id)] == [4, 5]
    with pytest.raises(MetadataConflict) as stale:
        client.set_metadata("Order", stream_id, max_count=1, expected_revision=0)
    assert stale.value.current_metadata_revision == 1
    assert client.set_metadata("Order", stream_id, max_count=1).revision == 2
    assert [e.revision for e in client.read_events("Order", stream_id)] == [5]


def test_cli_delete_and_metadata(cli_env: FakeServer) -> None:
    created = run("--json", "create", "Order", "--type", "A")
    assert created.code == 0, created.err
    stream_id = json.loads(created.out)["stream"]["streamId"]
    ran = run("--json", "metadata", "Order", stream_id, "--max-count", "10")
    assert (ran.code, json.loads(ran.out)["metadata"]["maxCount"]) == (0, 10), ran.err
    ran = run("--json", "metadata", "Order", stream_id, "--truncate-before", "2")
    assert json.loads(ran.out)["metadata"] == {
        "maxCount": 10,
        "maxAgeSeconds": None,
        "truncateBefore": 2,
        "metadataRevision": 2,
    }
    ran = run("metadata", "Order", stream_id, "--max-age", "60", "--expected-metadata-revision", "1")
    assert ran.code == 3
    assert "metadata" in one_line_error(ran)
    ran = run("--json", "metadata", "Order", stream_id, "--clear")
    assert json.loads(ran.out)["metadata"]["maxCount"] is None
    assert run("delete", "Order", stream_id, "--expected-revision", "2").code == 3
    assert run("delete", "Order", stream_id).code == 0
    assert run("details", "Order", stream_id).code == 2
    assert run("delete", "Order", stream_id, "--tombstone").code == 0
    gone = run("details", "Order", stream_id)
    assert gone.code == 2
    assert "deleted for good" in one_line_error(gone)


def test_a_stream_deleted_notification_parses_as_a_deletion() -> None:
    body = {
        "type": "StreamDeleted",
        "streamId": "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11",
        "streamType": "Order",
        "mode": "tombstone",
        "lastRevision": 7,
        "deletedAt": "2026-12-06T01:00:00.000000Z",
    }
    notification = parse_body(json.dumps(body))
    assert (notification.deleted, notification.to_revision, notification.events) == ("tombstone", 7, ())
    assert notification.to_json()["deleted"] == "tombstone"
    with pytest.raises(InvalidNotification):
        parse_body(json.dumps(body | {"mode": "hard"}))
