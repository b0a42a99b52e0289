"""The `eventstore` command as a user runs it: the installed console script in a subprocess, against the
fake API (and moto's server for SQS), with the environment a shell would give it."""

import json
import os
import pty
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from eventstore_client import NewEvent
from eventstore_client.cli import TYPE_NAME_MAX, TYPE_NAME_PATTERN, UUID_PATTERN, Progress
from eventstore_client.transfer import new_stream_id
from tests.client.conftest import make_client
from tests.client.fakeserver import ACCESS_KEY, REGION, SECRET_KEY, Failure, FakeServer
from tests.support import free_port

STREAM_ID = "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"
INVALID = {
    "type": "urn:eventstore:problem:invalid-request",
    "title": "The request is invalid",
    "status": 400,
    "invalid-params": [
        {"name": "/body/events/0/payload", "reason": "too deep"},
        {"name": "/body/events/1/metadata", "reason": "not an object"},
    ],
}
EVENTSTORE = str(Path(sys.executable).parent / "eventstore")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def run(*argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Ran:
    """The console script with the test's environment (cli_env sets it as a shell would)."""
    done = subprocess.run(
        [EVENTSTORE, *argv],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def one_line_error(ran: Ran) -> str:
    """A failure says what went wrong in exactly one line on stderr, never with a traceback."""
    assert "Traceback" not in ran.err
    lines = ran.err.splitlines()
    assert len(lines) == 1, ran.err
    return lines[0]


def test_create_append_read_details_list_with_json_output(cli_env: FakeServer) -> None:
    ran = run("--json", "create", "Order", "--type", "OrderPlaced", "--payload", '{"sku": "A1"}')
    assert ran.code == 0, ran.err
    created = json.loads(ran.out)
    stream_id = created["stream"]["streamId"]
    assert created["stream"]["revision"] == 1
    assert created["replayed"] is False

    ran = run("--json", "append", "Order", stream_id, "--type", "Paid", "--expected-revision", "1")
    assert (ran.code, json.loads(ran.out)["stream"]["revision"]) == (0, 2)
    ran = run("--json", "append", "Order", stream_id, "--type", "Packed", "--revision", "3")
    assert (ran.code, json.loads(ran.out)["stream"]["revision"]) == (0, 3)

    events = json_lines(run("--json", "read", "Order", stream_id, "--after-revision", "1").out)
    assert [(e["revision"], e["eventType"], e["streamType"]) for e in events] == [
        (2, "Paid", "Order"),
        (3, "Packed", "Order"),
    ]
    assert json.loads(run("--json", "details", "Order", stream_id).out)["stream"]["revision"] == 3
    assert [s["streamId"] for s in json_lines(run("--json", "list", "Order").out)] == [stream_id]


def test_human_output_is_one_readable_line_per_item(cli_env: FakeServer) -> None:
    ran = run("create", "Order", "--type", "OrderPlaced", "--stream-id", STREAM_ID, "--payload", '"x"')
    assert (ran.code, ran.out) == (0, f"created Order/{STREAM_ID} revision 1\n")
    revision, _created, event_type, _event_id, payload = run("read", "Order", STREAM_ID).out.split()
    assert (revision, event_type, payload) == ("1", "OrderPlaced", '"x"')
    assert "revision:     1" in run("details", "Order", STREAM_ID).out


def test_global_options_go_before_or_after_the_command(cli_env: FakeServer) -> None:
    run("create", "Order", "--type", "OrderPlaced", "--stream-id", STREAM_ID)
    after = run("details", "--json", "Order", STREAM_ID)
    before = run("--json", "details", "Order", STREAM_ID)
    assert after.code == before.code == 0, after.err
    assert json.loads(after.out) == json.loads(before.out)

    # An option after the command wins over the environment, as before it.
    with FakeServer() as other:
        env = os.environ | {"EVENTSTORE_URL": "http://127.0.0.1:9"}
        assert run("list", "Order", "--url", other.url, "--quiet", env=env).code == 0
        assert run("--url", other.url, "list", "Order", env=env).err == "no streams of type Order\n"
    assert other.store.requests, "the --url given after the command was used"


def test_version_is_the_installed_package_version() -> None:
    ran = run("--version")
    assert (ran.code, ran.out) == (0, f"eventstore {version('eventstore-client')}\n")


def test_profile_picks_the_credentials(cli_env: FakeServer, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[store]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        "[wrong]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = not-the-secret\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(tmp_path / "none")}

    assert run("--profile", "store", "list", "Order", env=env).code == 0
    assert run("list", "Order", "--profile", "wrong", env=env).code == 6  # refused signature: the profile's
    assert run("list", "Order", env=env | {"AWS_PROFILE": "store"}).code == 0
    missing = run("--profile", "nope", "list", "Order", env=env)
    assert missing.code == 1
    assert "nope" in one_line_error(missing)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_name_every_command(shell: str) -> None:
    ran = run("completion", shell)
    assert ran.code == 0, ran.err
    for command in ("create", "append", "read", "list", "details", "tail", "export", "import"):
        assert command in ran.out
    assert "--stream-type" in ran.out
    assert "--new-ids" in ran.out
    if shell == "bash" and shutil.which("bash"):
        subprocess.run(["bash", "-n"], input=ran.out, text=True, check=True)


def test_events_from_a_file(cli_env: FakeServer, tmp_path: Path) -> None:
    lines = [
        {"eventType": "A", "payload": 1},
        {"eventType": "B", "payload": 2, "metadata": {"causationId": "c"}},
    ]
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(line) for line in lines))

    ran = run("--json", "create", "Order", "--events", str(events_file))

    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["stream"]["revision"] == 2


def test_events_from_stdin(cli_env: FakeServer) -> None:
    ran = run("create", "Order", "--events", "-", stdin='[{"eventType": "FromStdin", "payload": "x"}]')
    assert ran.out.endswith(" revision 1\n")
    assert run("create", "Order", "--events", "-", stdin="no json").code == 1


@pytest.mark.parametrize(
    ("argv", "failures", "expected"),
    [
        (["details", "Order", "0b7e3c2a-1d4f-4e5a-8b6c-7d8e9f0a1b2c"], [], 2),
        (["details", "Invoice", STREAM_ID], [], 2),
        (["append", "Order", STREAM_ID, "--type", "Late", "--expected-revision", "5"], [], 3),
        (["create", "Order", "--type", "Again", "--stream-id", STREAM_ID], [], 3),
        (["create", "Invoice", "--type", "Again", "--stream-id", STREAM_ID], [], 3),
        (["create", "Order", "--type", "Fine"], [Failure(400, body=INVALID)], 4),
        (["details", "Order", STREAM_ID], [Failure(503, headers={"Retry-After": "0"})] * 5, 5),
        (["details", "Order", STREAM_ID], [Failure(403, body={"message": "Forbidden"})], 6),
        (["create", "Order", "--events", "/nonexistent/events.jsonl"], [], 1),
    ],
)
def test_exit_codes(cli_env: FakeServer, argv: list[str], failures: list[Failure], expected: int) -> None:
    with make_client(cli_env.url) as client:
        client.create_stream("Order", NewEvent("Placed"), stream_id=STREAM_ID)
    cli_env.store.fail_next(*failures)

    ran = run(*argv)

    assert ran.code == expected, ran.err
    assert one_line_error(ran).startswith("eventstore: error:")


def test_a_refused_signature_exits_6_and_json_errors_are_problems(
    cli_env: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert run("details", "Order", STREAM_ID).code == 6
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)

    ran = run("--json", "details", "Order", STREAM_ID)

    assert ran.code == 2
    assert json.loads(one_line_error(ran))["error"]["type"] == "urn:eventstore:problem:stream-not-found"


def test_an_invalid_request_is_one_line_naming_each_field(cli_env: FakeServer) -> None:
    cli_env.store.fail_next(Failure(400, body=INVALID))
    ran = run("create", "Order", "--type", "Placed")
    assert ran.code == 4
    assert one_line_error(ran) == (
        "eventstore: error: The request is invalid: /body/events/0/payload: too deep; "
        "/body/events/1/metadata: not an object"
    )


def test_usage_errors_exit_1(cli_env: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = run("create", "Order", "--type", "A", "--payload", "{not json")
    assert ran.code == 1
    assert "argument --payload: not JSON" in one_line_error(ran)
    monkeypatch.delenv("EVENTSTORE_URL")
    ran = run("details", "Order", STREAM_ID)
    assert ran.code == 1
    assert one_line_error(ran) == "eventstore: error: no API URL: pass --url or set EVENTSTORE_URL"


def test_the_cli_checks_names_and_ids_as_the_contract_does() -> None:
    openapi = Path(__file__).resolve().parents[2] / "openapi.yaml"
    schemas = yaml.safe_load(openapi.read_text())["components"]["schemas"]
    end = "(?![\\s\\S])"
    assert schemas["StreamId"]["pattern"] == schemas["EventId"]["pattern"] == f"^{UUID_PATTERN}{end}"
    assert schemas["TypeName"]["pattern"] == f"^{TYPE_NAME_PATTERN}{end}"
    assert schemas["TypeName"]["maxLength"] == TYPE_NAME_MAX


# Each failure path of the issue: one readable line, the documented exit code, no traceback.
@pytest.mark.parametrize(
    ("argv", "code", "says", "not_says"),
    [
        (["append", "Order", STREAM_ID, "--type", ""], 4, "--type must be 1 to 128 letters", "Type"),
        (["read", "Order", "not-a-uuid"], 4, "stream id must be a UUID", "[0-9a-f"),
        (["create", "Order", "--type", "bad type!"], 4, "--type must be 1 to 128 letters", "[A-Za-z"),
        (["create", "Order", "--type", "A", "--event-id", "1"], 4, "--event-id must be a UUID", ""),
        (["list", "Order Line"], 4, "stream type must be 1 to 128 letters", ""),
        (["export", "Order", STREAM_ID, "x"], 4, "stream id must be a UUID (such as", ""),
        (["import", "--stream-type", "a/b"], 4, "--stream-type must be 1 to 128", ""),
        (
            ["read", "Order", STREAM_ID, "--max", "-1"],
            1,
            "argument --max: must be a whole number of 1 or more",
            "",
        ),
        (["read", "Order", STREAM_ID, "--after-revision", "x"], 1, "must be a whole number of 0 or more", ""),
        (["tail", "Order", STREAM_ID, "--interval", "nan"], 1, "must be a number of seconds", ""),
        (["list", "Order", "--updated-after", "yesterday"], 1, "must be an RFC 3339 time", ""),
        (["export"], 1, "the following arguments are required: STREAM_TYPE", "STREAM_ID"),
        (
            ["--url", "127.0.0.1:28000", "list", "Order"],
            1,
            "must start with http:// or https://",
            "Attribute",
        ),
        (["tail", "--queue", "my-queue"], 1, "--queue must be an SQS queue URL", ""),
        (["tail", "Order"], 1, "tail needs STREAM_TYPE STREAM_ID, or --queue URL", ""),
    ],
)
def test_bad_input_is_refused_in_words(
    cli_env: FakeServer, argv: list[str], code: int, says: str, not_says: str
) -> None:
    ran = run(*argv)
    assert ran.code == code
    line = one_line_error(ran)
    assert says in line
    if not_says:
        assert not_says not in line
    assert not cli_env.store.requests  # refused before asking the API


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"eventType": "A"', "--events {file}: line 1 is not JSON: Expecting ',' delimiter (column 18)"),
        ('[{"eventType": "A"},', "--events {file}: not JSON: Expecting value (line 1, column 21)"),
        ('{"eventType": "A"}\n[1]', "--events {file}: line 2 is not a JSON object"),
        ('[{"payload": 1}]', "--events {file}: event 1 has no eventType string"),
        ('[{"eventType": "A", "eventId": "x"}]', "--events {file}: event 1: eventId must be a UUID"),
        ('[{"eventType": "A B"}]', "--events {file}: event 1: eventType must be 1 to 128 letters"),
        ('[{"eventType": "A", "metadata": [1]}]', "--events {file}: event 1: metadata must be a JSON object"),
        ("\n\n", "--events {file}: no events"),
    ],
)
def test_a_bad_events_file_is_named_with_its_line(
    cli_env: FakeServer, tmp_path: Path, content: str, says: str
) -> None:
    events_file = tmp_path / "events.json"
    events_file.write_text(content)
    ran = run("create", "Order", "--events", str(events_file))
    assert ran.code == (4 if " must be " in says else 1)  # a refused name or id is invalid input
    assert says.format(file=events_file) in one_line_error(ran)
    assert "JSONDecodeError" not in ran.err


def test_a_missing_region_names_the_cli_option(cli_env: FakeServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"AWS_DEFAULT_REGION", "AWS_REGION"}}
    env["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    ran = run("list", "Order", env=env)
    assert ran.code == 1
    assert one_line_error(ran) == (
        "eventstore: error: no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION"
    )
    assert run("--region", REGION, "list", "Order", "--quiet", env=env).code == 0


def test_a_conflict_at_revision_speaks_of_the_revision_given(cli_env: FakeServer) -> None:
    with make_client(cli_env.url) as client:
        client.create_stream("Order", [NewEvent("A"), NewEvent("B"), NewEvent("C")], stream_id=STREAM_ID)

    ran = run("append", "Order", STREAM_ID, "--type", "Late", "--revision", "3")

    assert ran.code == 3
    line = one_line_error(ran)
    assert (
        "--revision 3 is not the stream's next revision: the stream is at revision 3, so the next is 4"
        in line
    )
    assert "expected revision 2" not in line
    problem = json.loads(run("--json", "append", "Order", STREAM_ID, "--type", "L", "--revision", "3").err)
    assert problem["error"]["currentRevision"] == 3


def test_an_empty_listing_says_so_on_stderr(cli_env: FakeServer) -> None:
    ran = run("list", "Nope")
    assert (ran.code, ran.out, ran.err) == (0, "", "no streams of type Nope\n")
    assert run("list", "Nope", "--quiet").err == ""
    later = run("--json", "list", "Nope", "--updated-after", "2026-01-01T00:00:00Z")
    assert (later.out, later.err) == ("", "no streams of type Nope updated after 2026-01-01T00:00:00+00:00\n")


def test_a_closed_pipe_ends_quietly_with_141(cli_env: FakeServer) -> None:
    with make_client(cli_env.url) as client:
        client.create_stream("Order", [NewEvent("E", {"n": n}) for n in range(100)], stream_id=STREAM_ID)
        for revision in range(100, 2000, 100):
            batch = [NewEvent("E", {"n": n}) for n in range(revision, revision + 100)]
            client.append("Order", STREAM_ID, batch, expected_revision=revision)
    # ~250 KB of output: far more than a pipe holds, so the writer meets the closed end.
    script = f'set -o pipefail; "{EVENTSTORE}" read Order {STREAM_ID} | head -1'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 141  # pipefail: the CLI's own status, as for `yes | head -1`
    assert done.stdout.split()[0] == "1"
    assert done.stderr == ""


def read_terminal(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO once the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def run_on_terminal(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """stderr on a pseudo-terminal (what a person sees), stdout captured."""
    primary, secondary = pty.openpty()
    with subprocess.Popen(
        [EVENTSTORE, *argv], stdout=subprocess.PIPE, stderr=secondary, env=env, text=True
    ) as process:
        os.close(secondary)
        terminal = read_terminal(primary)
        out = process.stdout.read() if process.stdout else ""
        code = process.wait(timeout=60)
    os.close(primary)
    return code, out, terminal


def test_colour_only_on_a_terminal_and_never_with_no_color(cli_env: FakeServer) -> None:
    red = "\033[31m"
    code, _, terminal = run_on_terminal("details", "Order", STREAM_ID)
    assert code == 2
    assert terminal.startswith(f"{red}eventstore: error:")
    env = os.environ | {"NO_COLOR": "1"}
    assert run_on_terminal("details", "Order", STREAM_ID, env=env)[2].startswith("eventstore: error:")
    assert run("details", "Order", STREAM_ID).err.startswith("eventstore: error:")  # a pipe


def test_event_types_are_coloured_on_a_terminal_stdout_only(cli_env: FakeServer) -> None:
    with make_client(cli_env.url) as client:
        client.create_stream("Order", NewEvent("Placed"), stream_id=STREAM_ID)
    primary, secondary = pty.openpty()
    with subprocess.Popen([EVENTSTORE, "read", "Order", STREAM_ID], stdout=secondary) as process:
        os.close(secondary)
        terminal = read_terminal(primary)
        assert process.wait(timeout=60) == 0
    os.close(primary)
    assert "\033[36mPlaced\033[0m" in terminal
    assert "\033[" not in run("read", "Order", STREAM_ID).out


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
    exported_run = run("export", "Order", "-o", str(export_file))
    assert (exported_run.code, exported_run.err) == (0, "exported 300 events\n")
    exported = json_lines(export_file.read_text())
    assert len(exported) == 300
    assert {e["streamId"] for e in exported} == set(ids)

    with FakeServer() as target:
        ran = run("--url", target.url, "--json", "import", str(export_file))
        assert (ran.code, json.loads(ran.out)) == (
            0,
            {"streams": 2, "written": 300, "skipped": 0, "replayed": 0},
        )
        ran = run("--url", target.url, "--json", "import", str(export_file))
        assert json.loads(ran.out) == {"streams": 2, "written": 0, "skipped": 300, "replayed": 0}
        with make_client(target.url) as client:
            copied = [e.to_json() for stream_id in ids for e in client.read_events("Order", stream_id)]
    strip = ("createdAt", "metadata")
    assert [{k: v for k, v in e.items() if k not in strip} for e in copied] == [
        {k: v for k, v in e.items() if k not in strip} for e in exported
    ]


def test_import_under_another_type_in_the_same_store_needs_new_ids(
    cli_env: FakeServer, tmp_path: Path
) -> None:
    ids = seed(cli_env.url, streams=2, events=60)
    export_file = tmp_path / "orders.jsonl"
    run("export", "Order", "-o", str(export_file))

    taken = run("import", str(export_file), "--stream-type", "Archive")
    assert taken.code == 3
    line = one_line_error(taken)
    assert f"stream id {ids[0]} is already used by another stream type" in line
    assert "add --new-ids" in line
    assert "Order" not in line

    copied = run("--json", "import", str(export_file), "--stream-type", "Archive", "--new-ids")
    expected_ids = {old: new_stream_id("Archive", old) for old in ids}
    assert (copied.code, json.loads(copied.out)) == (
        0,
        {"streams": 2, "written": 200, "skipped": 0, "replayed": 0, "newStreamIds": expected_ids},
    )
    again = run("import", str(export_file), "--stream-type", "Archive", "--new-ids")
    assert again.code == 0, again.err
    assert again.out.splitlines() == [
        *(f"{old} -> {new}" for old, new in expected_ids.items()),
        "imported 0 events into 2 streams (200 already there, 0 replayed)",
    ]
    with make_client(cli_env.url) as client:
        for old, new in expected_ids.items():
            originals = [(e.revision, e.event_id, e.payload) for e in client.read_events("Order", old)]
            copies = [(e.revision, e.event_id, e.payload) for e in client.read_events("Archive", new)]
            assert copies == originals
        assert {s.stream_id for s in client.list_streams("Order")} == set(ids)  # the originals untouched


def test_import_shows_progress_with_a_total_on_a_terminal(cli_env: FakeServer, tmp_path: Path) -> None:
    seed(cli_env.url, streams=1, events=100)
    export_file = tmp_path / "orders.jsonl"
    run("export", "Order", "-o", str(export_file))
    with FakeServer() as target:
        code, out, terminal = run_on_terminal("--url", target.url, "import", str(export_file))
    assert code == 0
    assert "imported: 100/100 events, 100%" in terminal
    assert out == "imported 100 events into 1 stream (0 already there, 0 replayed)\n"


def test_progress_shows_the_time_left_when_the_total_is_known() -> None:
    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    now = [0.0]
    progress = Progress(Terminal(), "exported", 1000, enabled=True, clock=lambda: now[0])  # type: ignore[arg-type]
    now[0] = 10.0
    progress(250)  # 25/s, 750 to go: 30 s
    assert progress.line(now[0]) == "exported: 250/1000 events, 25% (25/s, ETA 30s)"
    now[0] = 20.0
    progress(10)
    assert progress.line(4000.0) == "exported: 260/1000 events, 26% (0/s, ETA 3h09m)"
    unknown = Progress(Terminal(), "exported", None, enabled=True, clock=lambda: now[0])  # type: ignore[arg-type]
    unknown(40)
    assert unknown.line(now[0] + 2) == "exported: 40 events (20/s)"


def test_an_interrupted_import_continues_from_the_streams_revision(
    cli_env: FakeServer, tmp_path: Path
) -> None:
    seed(cli_env.url, streams=1, events=150)
    full = tmp_path / "full.jsonl"
    run("export", "Order", "-o", str(full))
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(full.read_text().splitlines(keepends=True)[:70]))

    with FakeServer() as target:
        assert json.loads(run("--url", target.url, "--json", "import", str(partial)).out)["written"] == 70
        summary = json.loads(run("--url", target.url, "--json", "import", str(full)).out)
    assert summary == {"streams": 1, "written": 80, "skipped": 70, "replayed": 0}


def test_import_refuses_a_stream_that_holds_other_events(cli_env: FakeServer, tmp_path: Path) -> None:
    seed(cli_env.url, streams=1, events=50)
    export_file = tmp_path / "orders.jsonl"
    run("export", "Order", "-o", str(export_file))
    stream_id = json_lines(export_file.read_text())[0]["streamId"]

    with FakeServer() as target:
        with make_client(target.url) as client:
            client.create_stream("Order", NewEvent("Other"), stream_id=stream_id)
        ran = run("--url", target.url, "import", str(export_file))
    assert ran.code == 3, ran.err
    assert "--new-ids" not in one_line_error(ran)  # the stream is of this type: new ids are no answer


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


def test_export_of_named_streams_knows_its_total(cli_env: FakeServer, tmp_path: Path) -> None:
    (stream_id,) = seed(cli_env.url, streams=1, events=100)
    code, _, terminal = run_on_terminal(
        "export", "Order", stream_id, "--after-revision", "40", "-o", str(tmp_path / "x")
    )
    assert code == 0
    assert "exported: 60/60 events, 100%" in terminal


def test_tail_follows_a_stream(cli_env: FakeServer) -> None:
    (stream_id,) = seed(cli_env.url, streams=1, events=50)

    ran = run("--json", "tail", "Order", stream_id, "--after-revision", "45", "--max", "3")
    assert (ran.code, [e["revision"] for e in json_lines(ran.out)]) == (0, [46, 47, 48])
    ran = run("tail", "Order", stream_id, "--idle-timeout", "0", "--interval", "0")
    assert (ran.code, ran.out) == (0, "")


@pytest.fixture
def queue_url(cli_env: FakeServer, moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A queue on an emulator, and no AWS_ENDPOINT_URL: `tail` must reach it at its URL's host."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "LOCALSTACK_HOST"):
        monkeypatch.delenv(name, raising=False)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server_url)
    url: str = sqs.create_queue(QueueName=f"tail-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    assert url.startswith(moto_server_url)
    return url


def send_notifications(queue_url: str, *revisions: int) -> Any:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=queue_url.rsplit("/", 2)[0])
    for revision in revisions:
        body = {"StreamId": STREAM_ID, "StreamType": "Order", "StreamRevision": str(revision)}
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    return sqs


def test_tail_keep_prints_each_message_once_though_it_comes_back(queue_url: str) -> None:
    sqs = send_notifications(queue_url, 1, 2)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "0"})

    ran = run("--json", "tail", "--queue", queue_url, "--keep", "--max", "3", "--idle-timeout", "1")

    assert ran.code == 0, ran.err
    assert sorted(n["toRevision"] for n in json_lines(ran.out)) == [1, 2]


def test_tail_follows_an_emulator_queue_at_its_own_host_and_deletes(queue_url: str) -> None:
    sqs = send_notifications(queue_url, 1, 2)

    ran = run("--json", "tail", "--queue", queue_url, "--max", "2", "--idle-timeout", "0")

    assert ran.code == 0, ran.err
    assert sorted(n["toRevision"] for n in json_lines(ran.out)) == [1, 2]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)


def test_tail_of_a_missing_or_unreachable_queue_is_one_line(queue_url: str) -> None:
    missing = run("tail", "--queue", queue_url + "-gone", "--idle-timeout", "0")
    assert missing.code == 2
    assert "NonExistentQueue" in one_line_error(missing) or "QueueDoesNotExist" in missing.err

    closed = f"http://127.0.0.1:{free_port()}/000000000000/nowhere"
    unreachable = run(
        "tail", "--queue", closed, "--idle-timeout", "0", env=os.environ | {"AWS_MAX_ATTEMPTS": "1"}
    )
    assert unreachable.code == 5
    assert "Could not connect to the endpoint URL" in one_line_error(unreachable)
