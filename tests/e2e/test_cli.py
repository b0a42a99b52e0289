"""The `eventstore` command as a user runs it (a subprocess with the environment a shell would have)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from eventstore_client import EventStoreClient, NewEvent
from eventstore_client.transfer import new_stream_id
from tests.e2e.conftest import Subscription, Target


def eventstore(
    target: Target, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["eventstore", *args],
        env=env or target.environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_commands_and_their_exit_codes(target: Target, stream_type: str) -> None:
    created = eventstore(
        target, "--json", "create", stream_type, "--type", "OrderPlaced", "--payload", '{"sku":"A1"}'
    )
    assert created.returncode == 0, created.stderr
    stream_id = json.loads(created.stdout)["stream"]["streamId"]

    appended = eventstore(
        target, "append", stream_type, stream_id, "--type", "OrderPaid", "--expected-revision", "1"
    )
    assert (appended.returncode, appended.stdout) == (
        0,
        f"appended to {stream_type}/{stream_id} revision 2\n",
    )
    read = eventstore(target, "--json", "read", stream_type, stream_id)
    assert [e["eventType"] for e in json_lines(read.stdout)] == ["OrderPlaced", "OrderPaid"]
    assert "revision:     2" in eventstore(target, "details", stream_type, stream_id).stdout

    assert eventstore(target, "details", stream_type, str(uuid.uuid4())).returncode == 2
    stale = eventstore(
        target, "--json", "append", stream_type, stream_id, "--type", "X", "--expected-revision", "1"
    )
    assert stale.returncode == 3
    assert json.loads(stale.stderr)["error"]["currentRevision"] == 2
    assert eventstore(target, "create", stream_type, "--type", "not a type!").returncode == 4
    assert eventstore(target, "details").returncode == 1


def rewritten(lines: list[dict[str, Any]], stream_type: str, stream_id: str) -> str:
    return "".join(
        json.dumps(line | {"streamType": stream_type, "streamId": stream_id}) + "\n" for line in lines
    )


def test_export_import_round_trip_is_resumable_and_idempotent(
    target: Target, store: EventStoreClient, stream_type: str, tmp_path: Path
) -> None:
    source = store.create_stream(
        stream_type, [NewEvent("Counted", {"n": n}) for n in range(1, 101)]
    ).stream_id
    events = [NewEvent("Counted", {"n": n}, {"correlationId": "c"}) for n in range(101, 251)]
    store.append(stream_type, source, events[:100], expected_revision=100)
    store.append(stream_type, source, events[100:], expected_revision=200)

    export_file = tmp_path / "export.jsonl"
    exported = eventstore(target, "export", stream_type, source, "-o", str(export_file))
    assert exported.returncode == 0, exported.stderr
    lines = json_lines(export_file.read_text())
    assert [line["revision"] for line in lines] == list(range(1, 251))

    # Import as a new stream of another type: the same events, ids preserved.
    copy_type, copy_id = f"{stream_type}.copy", str(uuid.uuid4())
    partial, full = tmp_path / "partial.jsonl", tmp_path / "full.jsonl"
    partial.write_text(rewritten(lines[:130], copy_type, copy_id))
    full.write_text(rewritten(lines, copy_type, copy_id))

    first = eventstore(target, "--json", "import", str(partial))
    resumed = eventstore(target, "--json", "import", str(full))
    rerun = eventstore(target, "--json", "import", str(full))
    original = eventstore(target, "--json", "import", str(export_file))

    assert json.loads(first.stdout) == {"streams": 1, "written": 130, "skipped": 0, "replayed": 0}, (
        first.stderr
    )
    assert json.loads(resumed.stdout) == {"streams": 1, "written": 120, "skipped": 130, "replayed": 0}
    assert json.loads(rerun.stdout) == {"streams": 1, "written": 0, "skipped": 250, "replayed": 0}
    assert json.loads(original.stdout) == {"streams": 1, "written": 0, "skipped": 250, "replayed": 0}
    copied = list(store.read_events(copy_type, copy_id))
    assert [(e.revision, e.event_id, e.payload) for e in copied] == [
        (line["revision"], line["eventId"], line["payload"]) for line in lines
    ]
    assert copied[-1].metadata["correlationId"] == "c"

    # An export continues after what its file holds.
    store.append(stream_type, source, NewEvent("Counted", {"n": 251}), expected_revision=250)
    resumed_export = eventstore(target, "export", stream_type, source, "-o", str(export_file), "--resume")
    assert resumed_export.returncode == 0, resumed_export.stderr
    assert [line["revision"] for line in json_lines(export_file.read_text())] == list(range(1, 252))


def test_tail_follows_the_notification_queue(
    target: Target, store: EventStoreClient, stream_type: str, subscribed_queue: Subscription
) -> None:
    stream_id = store.create_stream(stream_type, [NewEvent("Placed"), NewEvent("Paid")]).stream_id
    store.append(stream_type, stream_id, NewEvent("Shipped"), expected_revision=2)

    tailed = eventstore(
        target, "--json", "tail", "--queue", subscribed_queue.queue_url, "--max", "2", "--idle-timeout", "60"
    )

    assert tailed.returncode == 0, tailed.stderr
    notifications = json_lines(tailed.stdout)
    assert {n["streamId"] for n in notifications} == {stream_id}
    assert sorted(n["toRevision"] for n in notifications) == [2, 3]


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_failures_are_one_line_in_words(target: Target, stream_type: str) -> None:
    not_uuid = eventstore(target, "read", stream_type, "not-a-uuid")
    assert not_uuid.returncode == 4
    assert "must be a UUID" in one_line_error(not_uuid)
    no_scheme = eventstore(target, "--url", target.api_url.split("://", 1)[1], "list", stream_type)
    assert no_scheme.returncode == 1
    assert "must start with http:// or https://" in one_line_error(no_scheme)
    empty = eventstore(target, "list", stream_type)
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", f"no streams of type {stream_type}\n")

    stream_id = str(uuid.uuid4())
    eventstore(target, "create", stream_type, "--stream-id", stream_id, "--type", "A")
    conflict = eventstore(target, "append", stream_type, stream_id, "--type", "B", "--revision", "1")
    assert conflict.returncode == 3
    assert "--revision 1 is not the stream's next revision: the stream is at revision 1" in one_line_error(
        conflict
    )


def test_importing_under_another_type_in_the_same_store_takes_new_ids(
    target: Target, store: EventStoreClient, stream_type: str, tmp_path: Path
) -> None:
    source = store.create_stream(stream_type, [NewEvent("Counted", {"n": n}) for n in range(1, 6)]).stream_id
    export_file = tmp_path / "export.jsonl"
    assert eventstore(target, "export", stream_type, source, "-o", str(export_file)).returncode == 0
    copy_type = f"{stream_type}.v2"

    taken = eventstore(target, "--json", "import", str(export_file), "--stream-type", copy_type)
    assert taken.returncode == 3
    problem = json.loads(one_line_error(taken))["error"]
    assert problem["type"] == "urn:eventstore:problem:stream-already-exists"
    assert problem["detail"] == f"stream id {source} is already used by another stream type"
    assert "currentRevision" not in problem  # the other type's revision is not revealed
    human = eventstore(target, "import", str(export_file), "--stream-type", copy_type)
    assert "add --new-ids" in one_line_error(human)

    copied = eventstore(target, "--json", "import", str(export_file), "--stream-type", copy_type, "--new-ids")
    rerun = eventstore(target, "--json", "import", str(export_file), "--stream-type", copy_type, "--new-ids")
    new_id = new_stream_id(copy_type, source)
    assert json.loads(copied.stdout) == {
        "streams": 1,
        "written": 5,
        "skipped": 0,
        "replayed": 0,
        "newStreamIds": {source: new_id},
    }, copied.stderr
    assert json.loads(rerun.stdout)["skipped"] == 5
    assert [e.payload for e in store.read_events(copy_type, new_id)] == [{"n": n} for n in range(1, 6)]
    assert store.get_stream(stream_type, source).revision == 5


def test_tail_reaches_the_local_queue_by_its_url_alone(
    target: Target, store: EventStoreClient, stream_type: str, subscribed_queue: Subscription
) -> None:
    if target.deployed:
        pytest.skip("an AWS queue is reached through the region's endpoint")
    stream_id = store.create_stream(stream_type, NewEvent("Placed")).stream_id
    env = target.environment()
    env.pop("AWS_ENDPOINT_URL", None)  # as in a fresh shell: only the queue's URL says where it is

    tailed = eventstore(
        target,
        "--json",
        "tail",
        "--queue",
        subscribed_queue.queue_url,
        "--max",
        "1",
        "--idle-timeout",
        "60",
        env=env,
    )

    assert tailed.returncode == 0, tailed.stderr
    assert [n["streamId"] for n in json_lines(tailed.stdout)] == [stream_id]
