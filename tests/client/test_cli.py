import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eventstore_client import NewEvent
from eventstore_client.cli import main
from tests.client.conftest import make_client
from tests.client.fakeserver import SECRET_KEY, Failure, FakeServer

STREAM_ID = "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_create_append_read_details_list_with_json_output(cli_env: FakeServer) -> None:
    code, out, _ = run("--json", "create", "Order", "--type", "OrderPlaced", "--payload", '{"sku": "A1"}')
    assert code == 0
    created = json.loads(out)
    stream_id = created["stream"]["streamId"]
    assert created["stream"]["revision"] == 1
    assert created["replayed"] is False

    code, out, _ = run("--json", "append", "Order", stream_id, "--type", "Paid", "--expected-revision", "1")
    assert (code, json.loads(out)["stream"]["revision"]) == (0, 2)
    code, out, _ = run("--json", "append", "Order", stream_id, "--type", "Packed", "--revision", "3")
    assert (code, json.loads(out)["stream"]["revision"]) == (0, 3)

    code, out, _ = run("--json", "read", "Order", stream_id, "--after-revision", "1")
    events = json_lines(out)
    assert [(e["revision"], e["eventType"], e["streamType"]) for e in events] == [
        (2, "Paid", "Order"),
        (3, "Packed", "Order"),
    ]
    assert json.loads(run("--json", "details", "Order", stream_id)[1])["stream"]["revision"] == 3
    assert [s["streamId"] for s in json_lines(run("--json", "list", "Order")[1])] == [stream_id]


def test_human_output_is_one_readable_line_per_item(cli_env: FakeServer) -> None:
    code, out, _ = run(
        "create", "Order", "--type", "OrderPlaced", "--stream-id", STREAM_ID, "--payload", '"x"'
    )
    assert (code, out) == (0, f"created Order/{STREAM_ID} revision 1\n")
    revision, _created, event_type, _event_id, payload = run("read", "Order", STREAM_ID)[1].split()
    assert (revision, event_type, payload) == ("1", "OrderPlaced", '"x"')
    assert "revision:     1" in run("details", "Order", STREAM_ID)[1]


def test_events_from_a_file(cli_env: FakeServer, tmp_path: Path) -> None:
    lines = [
        {"eventType": "A", "payload": 1},
        {"eventType": "B", "payload": 2, "metadata": {"causationId": "c"}},
    ]
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(line) for line in lines))

    code, out, _ = run("--json", "create", "Order", "--events", str(events_file))

    assert code == 0
    assert json.loads(out)["stream"]["revision"] == 2


def test_events_from_stdin(cli_env: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('[{"eventType": "FromStdin", "payload": "x"}]'))
    assert run("create", "Order", "--events", "-")[1].endswith(" revision 1\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("no json"))
    assert run("create", "Order", "--events", "-")[0] == 1


@pytest.mark.parametrize(
    ("argv", "failures", "expected"),
    [
        (["details", "Order", "0b7e3c2a-1d4f-4e5a-8b6c-7d8e9f0a1b2c"], [], 2),
        (["details", "Invoice", STREAM_ID], [], 2),
        (["append", "Order", STREAM_ID, "--type", "Late", "--expected-revision", "5"], [], 3),
        (["create", "Order", "--type", "Again", "--stream-id", STREAM_ID], [], 3),
        (["create", "Order", "--type", "bad type!"], [], 4),
        (["details", "Order", STREAM_ID], [Failure(503, headers={"Retry-After": "0"})] * 5, 5),
        (["create", "Order", "--events", "/nonexistent/events.jsonl"], [], 1),
    ],
)
def test_exit_codes(cli_env: FakeServer, argv: list[str], failures: list[Failure], expected: int) -> None:
    with make_client(cli_env.url) as client:
        client.create_stream("Order", NewEvent("Placed"), stream_id=STREAM_ID)
    cli_env.store.fail_next(*failures)

    code, _, err = run(*argv)

    assert code == expected, err
    assert err.startswith("eventstore: error:")


def test_a_refused_signature_exits_6_and_json_errors_are_problems(
    cli_env: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert run("details", "Order", STREAM_ID)[0] == 6
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)

    code, _, err = run("--json", "details", "Order", STREAM_ID)

    assert code == 2
    assert json.loads(err)["error"]["type"] == "urn:eventstore:problem:stream-not-found"


def test_usage_errors_exit_1(cli_env: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as raised:
        run("create", "Order", "--type", "A", "--payload", "{not json")
    assert raised.value.code == 1
    monkeypatch.delenv("EVENTSTORE_URL")
    assert run("details", "Order", STREAM_ID)[0] == 1


def seed(url: str, streams: int, events: int) -> list[str]:
    with make_client(url) as client:
        ids = []
        for s in range(streams):
            stream_id = client.create_stream(
                "Order", [NewEvent("E", {"n": i}) for i in range(1, 51)]
            ).stream_id
            for start in range(50, events, 50):
                batch = [
                    NewEvent("E", {"n": i}, {"correlationId": f"s{s}"}) for i in range(start + 1, start + 51)
                ]
                client.append("Order", stream_id, batch, expected_revision=start)
            ids.append(stream_id)
        return ids


def test_export_then_import_round_trips_and_a_rerun_changes_nothing(
    cli_env: FakeServer, tmp_path: Path
) -> None:
    ids = seed(cli_env.url, streams=2, events=150)
    export_file = tmp_path / "orders.jsonl"
    assert run("export", "Order", "-o", str(export_file))[0] == 0
    exported = json_lines(export_file.read_text())
    assert len(exported) == 300
    assert {e["streamId"] for e in exported} == set(ids)

    with FakeServer() as target:
        code, out, _ = run("--url", target.url, "--json", "import", str(export_file))
        assert (code, json.loads(out)) == (0, {"streams": 2, "written": 300, "skipped": 0, "replayed": 0})
        code, out, _ = run("--url", target.url, "--json", "import", str(export_file))
        assert json.loads(out) == {"streams": 2, "written": 0, "skipped": 300, "replayed": 0}
        with make_client(target.url) as client:
            copied = [e.to_json() for stream_id in ids for e in client.read_events("Order", stream_id)]
    strip = ("createdAt", "metadata")
    assert [{k: v for k, v in e.items() if k not in strip} for e in copied] == [
        {k: v for k, v in e.items() if k not in strip} for e in exported
    ]


def test_an_interrupted_import_continues_from_the_streams_revision(
    cli_env: FakeServer, tmp_path: Path
) -> None:
    seed(cli_env.url, streams=1, events=150)
    full = tmp_path / "full.jsonl"
    run("export", "Order", "-o", str(full))
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(full.read_text().splitlines(keepends=True)[:70]))

    with FakeServer() as target:
        assert json.loads(run("--url", target.url, "--json", "import", str(partial))[1])["written"] == 70
        summary = json.loads(run("--url", target.url, "--json", "import", str(full))[1])
    assert summary == {"streams": 1, "written": 80, "skipped": 70, "replayed": 0}


def test_import_refuses_a_stream_that_holds_other_events(cli_env: FakeServer, tmp_path: Path) -> None:
    seed(cli_env.url, streams=1, events=50)
    export_file = tmp_path / "orders.jsonl"
    run("export", "Order", "-o", str(export_file))
    stream_id = json_lines(export_file.read_text())[0]["streamId"]

    with FakeServer() as target:
        with make_client(target.url) as client:
            client.create_stream("Order", NewEvent("Other"), stream_id=stream_id)
        code, _, err = run("--url", target.url, "import", str(export_file))
    assert code == 3, err


def test_export_resumes_after_what_the_file_holds(cli_env: FakeServer, tmp_path: Path) -> None:
    (stream_id,) = seed(cli_env.url, streams=1, events=100)
    export_file = tmp_path / "orders.jsonl"
    run("export", "Order", stream_id, "-o", str(export_file), "--after-revision", "60")
    assert [e["revision"] for e in json_lines(export_file.read_text())] == list(range(61, 101))
    with make_client(cli_env.url) as client:
        client.append("Order", stream_id, NewEvent("Late"), expected_revision=100)
    with export_file.open("a") as torn:
        torn.write('{"streamType": "Order", "streamId": "')  # killed mid-write

    run("export", "Order", "-o", str(export_file), "--resume")

    assert [e["revision"] for e in json_lines(export_file.read_text())] == list(range(61, 102))


def test_tail_follows_a_stream(cli_env: FakeServer) -> None:
    (stream_id,) = seed(cli_env.url, streams=1, events=50)

    code, out, _ = run("--json", "tail", "Order", stream_id, "--after-revision", "45", "--max", "3")
    assert (code, [e["revision"] for e in json_lines(out)]) == (0, [46, 47, 48])
    code, out, _ = run("tail", "Order", stream_id, "--idle-timeout", "0", "--interval", "0")
    assert (code, out) == (0, "")


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="tail")["QueueUrl"]


def test_tail_keep_prints_each_message_once_though_it_comes_back(cli_env: FakeServer, queue_url: str) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "0"})
    for revision in (1, 2):
        body = {"StreamId": STREAM_ID, "StreamType": "Order", "StreamRevision": str(revision)}
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))

    code, out, _ = run("--json", "tail", "--queue", queue_url, "--keep", "--max", "3", "--idle-timeout", "1")

    assert code == 0
    assert sorted(n["toRevision"] for n in json_lines(out)) == [1, 2]


def test_tail_follows_a_notification_queue_and_deletes(cli_env: FakeServer, queue_url: str) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    for revision in (1, 2):
        body = {"StreamId": STREAM_ID, "StreamType": "Order", "StreamRevision": str(revision)}
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))

    code, out, _ = run("--json", "tail", "--queue", queue_url, "--max", "2", "--idle-timeout", "0")

    assert code == 0
    assert sorted(n["toRevision"] for n in json_lines(out)) == [1, 2]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
