"""The `eventstore` command. Exit codes (stable, for scripts):

0 ok · 1 usage or configuration (no URL, region or credentials) · 2 stream not found ·
3 conflict (wrong expected revision, stream exists, event id conflict) · 4 invalid request or input ·
5 unavailable (throttled, 5xx or no connection after retries) · 6 other API error (e.g. 403) ·
130 interrupted
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

from botocore.exceptions import NoCredentialsError

from eventstore_client.client import EventStoreClient
from eventstore_client.consumer import NotificationConsumer
from eventstore_client.errors import (
    EventIdConflict,
    EventStoreError,
    InvalidImportData,
    InvalidRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    StreamAlreadyExists,
    StreamNotFound,
    TransportError,
    WrongExpectedRevision,
)
from eventstore_client.models import (
    AppendResult,
    ExpectedRevision,
    NewEvent,
    Notification,
    RecordedEvent,
    Stream,
    parse_timestamp,
)
from eventstore_client.transfer import export_events, exported_revisions, import_events

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_NOT_FOUND = 2
EXIT_CONFLICT = 3
EXIT_INVALID = 4
EXIT_UNAVAILABLE = 5
EXIT_ERROR = 6
EXIT_INTERRUPTED = 130

_EXIT_CODES: tuple[tuple[type[EventStoreError], int], ...] = (
    (StreamNotFound, EXIT_NOT_FOUND),
    (WrongExpectedRevision, EXIT_CONFLICT),
    (StreamAlreadyExists, EXIT_CONFLICT),
    (EventIdConflict, EXIT_CONFLICT),
    (InvalidRequest, EXIT_INVALID),
    (PayloadTooLarge, EXIT_INVALID),
    (InvalidImportData, EXIT_INVALID),
    (ServiceUnavailable, EXIT_UNAVAILABLE),
    (TransportError, EXIT_UNAVAILABLE),
)


class UsageError(Exception):
    """Bad arguments or input the parser cannot catch (invalid JSON, missing URL)."""


class _Parser(argparse.ArgumentParser):
    # argparse exits 2 on usage errors; 2 means "not found" here.
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class Output:
    """The only place that writes to the terminal: human text by default, JSON with --json."""

    def __init__(self, *, as_json: bool, out: IO[str], err: IO[str]) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

    def emit(self, human: str, document: Any) -> None:
        text = json.dumps(document, separators=(",", ":")) if self.as_json else human
        self.out.write(text + "\n")
        self.out.flush()

    def written(self, result: AppendResult, verb: str) -> None:
        note = " (replayed)" if result.replayed else ""
        stream = result.stream
        self.emit(
            f"{verb} {stream.stream_type}/{stream.stream_id} revision {stream.revision}{note}",
            result.to_json(),
        )

    def event(self, event: RecordedEvent) -> None:
        created = event.created_at.isoformat(timespec="seconds")
        payload = json.dumps(event.payload)
        human = f"{event.revision:>6}  {created}  {event.event_type}  {event.event_id}  {payload}"
        self.emit(human, event.to_json())

    def stream(self, stream: Stream) -> None:
        self.emit(
            f"{stream.stream_id}  revision {stream.revision}  updated {stream.updated_at.isoformat()}",
            stream.to_json(),
        )

    def details(self, stream: Stream) -> None:
        human = "\n".join(
            [
                f"stream type:  {stream.stream_type}",
                f"stream id:    {stream.stream_id}",
                f"revision:     {stream.revision}",
                f"updated at:   {stream.updated_at.isoformat()}",
            ]
        )
        self.emit(human, {"stream": stream.to_json()})

    def notification(self, n: Notification) -> None:
        types = ",".join(n.event_types)
        human = f"{n.stream_type}/{n.stream_id} revisions {n.from_revision}..{n.to_revision} {types}".rstrip()
        self.emit(human, n.to_json())

    def error(self, message: str, exc: EventStoreError | None = None) -> None:
        if self.as_json:
            problem = dict(exc.problem) if exc is not None else {}
            problem.setdefault("title", message)
            self.err.write(json.dumps({"error": problem}) + "\n")
        else:
            self.err.write(f"eventstore: error: {message}\n")
            if isinstance(exc, InvalidRequest):
                for param in exc.invalid_params:
                    self.err.write(f"  {param.name}: {param.reason}\n")

    def note(self, message: str) -> None:
        self.err.write(message + "\n")


class Progress:
    """A one-line counter on stderr, redrawn at most 5 times a second, and only on a terminal."""

    def __init__(self, err: IO[str], label: str, total: int | None, *, enabled: bool) -> None:
        self._err, self._label, self._total = err, label, total
        self._enabled = enabled and err.isatty()
        self._count = 0
        self._start = self._drawn = time.monotonic()

    def __call__(self, n: int) -> None:
        self._count += n
        now = time.monotonic()
        if self._enabled and now - self._drawn >= 0.2:  # noqa: PLR2004
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn = now
        total = f"/{self._total}" if self._total is not None else ""
        rate = self._count / max(now - self._start, 1e-9)
        self._err.write(f"\r{self._label}: {self._count}{total} events ({rate:.0f}/s)")
        self._err.flush()

    def close(self) -> None:
        if self._enabled:
            self._draw(time.monotonic())
            self._err.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eventstore",
        description="Command line for the serverless event store (requests are SigV4-signed).",
        epilog=__doc__.split("\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=os.environ.get("EVENTSTORE_URL"), help="API URL (EVENTSTORE_URL)")
    parser.add_argument("--region", help="AWS region for signing (default: from the URL or AWS_REGION)")
    parser.add_argument("--json", action="store_true", help="machine-readable output: JSON (lines)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    create = commands.add_parser("create", help="create a stream with its first event(s)")
    create.add_argument("stream_type")
    create.add_argument("--stream-id", help="choose the stream id (a UUID); default: derived by the server")
    _event_arguments(create)

    append = commands.add_parser("append", help="append event(s) to a stream")
    append.add_argument("stream_type")
    append.add_argument("stream_id")
    _event_arguments(append)
    where = append.add_mutually_exclusive_group()
    where.add_argument(
        "--expected-revision",
        type=_expected_revision,
        default="any",
        help='the current revision, or "any" (default)',
    )
    where.add_argument("--revision", type=int, help="put a single event at this revision (current + 1)")

    read = commands.add_parser("read", help="print a stream's events")
    read.add_argument("stream_type")
    read.add_argument("stream_id")
    read.add_argument("--after-revision", type=int, default=0)
    read.add_argument("--max", type=int, help="stop after this many events")

    listing = commands.add_parser("list", help="print the streams of a type, oldest update first")
    listing.add_argument("stream_type")
    listing.add_argument("--updated-after", type=_timestamp, help="RFC 3339 time")
    listing.add_argument("--max", type=int, help="stop after this many streams")

    details = commands.add_parser("details", help="print a stream's revision and last update")
    details.add_argument("stream_type")
    details.add_argument("stream_id")

    tail = commands.add_parser("tail", help="follow a stream (polling) or a notification queue (--queue)")
    tail.add_argument("stream_type", nargs="?")
    tail.add_argument("stream_id", nargs="?")
    tail.add_argument("--queue", help="SQS queue URL subscribed to the topic; notifications are deleted")
    tail.add_argument("--keep", action="store_true", help="with --queue: do not delete the messages")
    tail.add_argument(
        "--after-revision", type=int, help="start after this revision (default: the current one)"
    )
    tail.add_argument("--interval", type=float, default=1.0, help="seconds between polls of a stream")
    tail.add_argument("--max", type=int, help="stop after this many events or notifications")
    tail.add_argument("--idle-timeout", type=float, help="stop after this many seconds without any")

    export = commands.add_parser("export", help="write streams as JSON Lines, one event a line")
    export.add_argument("stream_type")
    export.add_argument("stream_ids", nargs="*", help="default: every stream of the type (from the listing)")
    export.add_argument("-o", "--output", default="-", help="file (default: stdout)")
    export.add_argument("--after-revision", type=int, default=0, help="only events after this revision")
    export.add_argument("--updated-after", type=_timestamp, help="only streams updated after this time")
    export.add_argument(
        "--resume", action="store_true", help="append to --output after what it already holds"
    )

    imp = commands.add_parser("import", help="write exported JSON Lines; re-runs skip or replay what exists")
    imp.add_argument("input", nargs="?", default="-", help="file (default: stdin)")
    return parser


def _event_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--type", dest="event_type", help="the event type")
    source.add_argument(
        "--events", help="JSON array or JSON Lines of {eventType, payload, metadata, eventId}"
    )
    parser.add_argument("--payload", type=_json_value, help="the payload, as JSON (a string is '\"text\"')")
    parser.add_argument("--metadata", type=_json_value, help="metadata, a JSON object")
    parser.add_argument("--event-id", help="choose the event id (a UUID); default: a new one")


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from exc


def _expected_revision(text: str) -> ExpectedRevision:
    if text == "any":
        return "any"
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError('an integer or "any"') from exc


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc


def _events(args: argparse.Namespace) -> list[NewEvent]:
    if args.event_type:
        metadata = args.metadata
        if metadata is not None and not isinstance(metadata, dict):
            raise UsageError("--metadata must be a JSON object")
        extra = {"event_id": args.event_id} if args.event_id else {}
        return [NewEvent(args.event_type, args.payload, metadata, **extra)]
    if args.payload is not None or args.metadata is not None or args.event_id:
        raise UsageError("--payload, --metadata and --event-id go with --type, not --events")
    text = sys.stdin.read() if args.events == "-" else Path(args.events).read_text(encoding="utf-8")
    try:
        stripped = text.lstrip()
        items = (
            json.loads(stripped)
            if stripped.startswith("[")
            else [json.loads(s) for s in text.splitlines() if s]
        )
        return [NewEvent.from_json(item) for item in items]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"--events: not a list of events ({exc!r})") from exc


def _create(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    out.written(client.create_stream(args.stream_type, _events(args), stream_id=args.stream_id), "created")


def _append(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    events = _events(args)
    if args.revision is not None:
        result = client.append(args.stream_type, args.stream_id, events, revision=args.revision)
    else:
        result = client.append(
            args.stream_type, args.stream_id, events, expected_revision=args.expected_revision
        )
    out.written(result, "appended to")


def _limited[T](items: Iterable[T], limit: int | None) -> Iterator[T]:
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            return
        yield item


def _read(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    events = client.read_events(args.stream_type, args.stream_id, after_revision=args.after_revision)
    for event in _limited(events, args.max):
        out.event(event)


def _list(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    for stream in _limited(client.list_streams(args.stream_type, updated_after=args.updated_after), args.max):
        out.stream(stream)


def _details(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    out.details(client.get_stream(args.stream_type, args.stream_id))


def _tail(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    if args.queue:
        _tail_queue(client, args, out)
        return
    if not (args.stream_type and args.stream_id):
        raise UsageError("tail needs STREAM_TYPE STREAM_ID, or --queue URL")
    after = args.after_revision
    if after is None:
        after = client.get_stream(args.stream_type, args.stream_id).revision
    seen, idle_since = 0, time.monotonic()
    while True:
        for event in client.read_events(args.stream_type, args.stream_id, after_revision=after):
            out.event(event)
            after, seen, idle_since = event.revision, seen + 1, time.monotonic()
            if args.max is not None and seen >= args.max:
                return
        if args.idle_timeout is not None and time.monotonic() - idle_since >= args.idle_timeout:
            return
        time.sleep(args.interval)


def _tail_queue(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    wait = 20 if args.idle_timeout is None else max(0, min(20, int(args.idle_timeout)))
    consumer = NotificationConsumer(args.queue, region=client.region, wait_time_seconds=wait)
    seen, idle_since = 0, time.monotonic()
    printed: set[str] = set()  # with --keep, messages come back after their visibility timeout
    while True:
        for delivery in consumer.receive():
            if args.keep:
                if delivery.message_id in printed:
                    continue
                printed.add(delivery.message_id)
                out.notification(delivery.notification)
            else:
                with delivery as notification:
                    out.notification(notification)
            seen, idle_since = seen + 1, time.monotonic()
            if args.max is not None and seen >= args.max:
                return
        if args.idle_timeout is not None and time.monotonic() - idle_since >= args.idle_timeout:
            return


def _export(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    resume_from: dict[str, int] = {}
    path = None if args.output == "-" else Path(args.output)
    if args.resume:
        if path is None:
            raise UsageError("--resume needs --output FILE")
        if path.exists():
            _drop_torn_line(path)
            with path.open(encoding="utf-8") as existing:
                resume_from = exported_revisions(existing)
    progress = Progress(out.err, "exported", None, enabled=not args.quiet)
    count = 0
    with ExitStack() as stack:
        sink = (
            out.out
            if path is None
            else stack.enter_context(path.open("a" if args.resume else "w", encoding="utf-8"))
        )
        events = export_events(
            client,
            args.stream_type,
            args.stream_ids or None,
            after_revision=args.after_revision,
            resume_from=resume_from,
            updated_after=args.updated_after,
        )
        for event in events:
            sink.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
            count += 1
            progress(1)
        progress.close()
    if not args.quiet:
        out.note(f"exported {count} events")


def _drop_torn_line(path: Path) -> None:
    """An export killed mid-write can leave half a line; the resumed export writes that event again."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _import(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    with ExitStack() as stack:
        if args.input == "-":
            lines: Iterable[str] = sys.stdin
            total = None
        else:
            path = Path(args.input)
            with path.open(encoding="utf-8") as counting:
                total = sum(1 for line in counting if line.strip())
            lines = stack.enter_context(path.open(encoding="utf-8"))
        progress = Progress(out.err, "imported", total, enabled=not args.quiet)
        summary = import_events(client, lines, progress=progress)
        progress.close()
    out.emit(
        f"imported {_plural(summary.written, 'event')} into {_plural(summary.streams, 'stream')} "
        f"({summary.skipped} already there, {summary.replayed} replayed)",
        summary.to_json(),
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


COMMANDS: dict[str, Callable[[EventStoreClient, argparse.Namespace, Output], None]] = {
    "create": _create,
    "append": _append,
    "read": _read,
    "list": _list,
    "details": _details,
    "tail": _tail,
    "export": _export,
    "import": _import,
}


def exit_code(exc: EventStoreError) -> int:
    for cls, code in _EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


def main(
    argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    args = build_parser().parse_args(argv)
    out = Output(as_json=args.json, out=stdout or sys.stdout, err=stderr or sys.stderr)
    if not args.url:
        out.error("no API URL: pass --url or set EVENTSTORE_URL")
        return EXIT_USAGE
    try:
        with EventStoreClient(args.url, region=args.region) as client:
            COMMANDS[args.command](client, args, out)
    except (UsageError, ValueError, NoCredentialsError, OSError) as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except EventStoreError as exc:
        out.error(str(exc), exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK
