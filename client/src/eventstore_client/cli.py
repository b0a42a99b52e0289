"""The `eventstore` command. Exit codes (stable, for scripts):

0 ok · 1 usage or configuration (no URL, region or credentials) · 2 stream, checkpoint, snapshot (or
queue) not found · 3 conflict (wrong expected revision, stream exists, event id, checkpoint or snapshot
conflict) ·
4 invalid request or input · 5 unavailable (throttled, 5xx or no connection after retries) ·
6 other API error (e.g. 403) · 130 interrupted · 141 stdout closed early (e.g. piped into `head`), as
a process killed by SIGPIPE
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any, NoReturn

import botocore.session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    InvalidConfigError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from eventstore_client.archive import (
    ArchiveIntegrityError,
    ArchiveNotFound,
    PayloadOpener,
    mark_sealed,
    read_stream,
)
from eventstore_client.client import MAX_PAGE_SIZE, UNSET, EventStoreClient, _Unset
from eventstore_client.consumer import NotificationConsumer
from eventstore_client.errors import (
    CheckpointConflict,
    CheckpointNotFound,
    EventIdConflict,
    EventStoreError,
    InvalidImportData,
    InvalidRequest,
    MetadataConflict,
    MissingRegion,
    PayloadTooLarge,
    ServiceUnavailable,
    SnapshotBeyondRevision,
    SnapshotConflict,
    SnapshotNotFound,
    StreamAlreadyExists,
    StreamDeleted,
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
    StreamMetadata,
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
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what the shell reports for `yes | head -1`

_EXIT_CODES: tuple[tuple[type[EventStoreError], int], ...] = (
    (StreamNotFound, EXIT_NOT_FOUND),
    (StreamDeleted, EXIT_NOT_FOUND),
    (MetadataConflict, EXIT_CONFLICT),
    (CheckpointNotFound, EXIT_NOT_FOUND),
    (SnapshotNotFound, EXIT_NOT_FOUND),
    (SnapshotConflict, EXIT_CONFLICT),
    (SnapshotBeyondRevision, EXIT_CONFLICT),
    (CheckpointConflict, EXIT_CONFLICT),
    (WrongExpectedRevision, EXIT_CONFLICT),
    (StreamAlreadyExists, EXIT_CONFLICT),
    (EventIdConflict, EXIT_CONFLICT),
    (InvalidRequest, EXIT_INVALID),
    (PayloadTooLarge, EXIT_INVALID),
    (InvalidImportData, EXIT_INVALID),
    (ServiceUnavailable, EXIT_UNAVAILABLE),
    (TransportError, EXIT_UNAVAILABLE),
)
# botocore's failures (credentials, profiles, the SQS queue of `tail --queue`), by class.
_BOTOCORE_EXIT_CODES: tuple[tuple[type[BotoCoreError], int], ...] = (
    (NoCredentialsError, EXIT_USAGE),
    (PartialCredentialsError, EXIT_USAGE),
    (CredentialRetrievalError, EXIT_USAGE),
    (TokenRetrievalError, EXIT_USAGE),
    (SSOError, EXIT_USAGE),
    (ProfileNotFound, EXIT_USAGE),
    (InvalidConfigError, EXIT_USAGE),
    (NoRegionError, EXIT_USAGE),
    (EndpointConnectionError, EXIT_UNAVAILABLE),  # no connection
    (ConnectTimeoutError, EXIT_UNAVAILABLE),
    (HTTPClientError, EXIT_UNAVAILABLE),  # read timeouts, dropped connections
)
_SQS_NOT_FOUND = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestThrottled", "RequestThrottledException"})

# The API's formats (openapi.yaml: StreamId, EventId, TypeName), checked here to say what is wrong in words.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
TYPE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]*"
TYPE_NAME_MAX = 128
_TYPE_NAME_RULE = (
    f"1 to {TYPE_NAME_MAX} letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
)
_FIRST_PAUSE = 0.1
"""`feed --follow`: seconds before the first poll at the head; doubled while quiet, up to --interval."""
_RED, _CYAN, _RESET = "\033[31m", "\033[36m", "\033[0m"


class UsageError(Exception):
    """Bad arguments or input the parser cannot catch (invalid JSON, missing URL)."""


class InvalidInput(Exception):
    """A name, id or event the API would refuse as an invalid request."""


class _Parser(argparse.ArgumentParser):
    # argparse exits 2 on usage errors; 2 means "not found" here. One line, like every other failure.
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def colour_enabled(stream: IO[str]) -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Output:
    """The only place that writes to the terminal: human text by default, JSON with --json."""

    def __init__(self, *, as_json: bool, quiet: bool, out: IO[str], err: IO[str]) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.out = out
        self.err = err
        self._colour_out = colour_enabled(out)
        self._colour_err = colour_enabled(err)

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
        event_type = f"{_CYAN}{event.event_type}{_RESET}" if self._colour_out else event.event_type
        human = f"{event.revision:>6}  {created}  {event_type}  {event.event_id}  {payload}"
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

    def metadata(self, metadata: StreamMetadata) -> None:
        def shown(value: int | None) -> str:
            return "-" if value is None else str(value)

        human = "\n".join(
            [
                f"max count:        {shown(metadata.max_count)}",
                f"max age seconds:  {shown(metadata.max_age_seconds)}",
                f"truncate before:  {shown(metadata.truncate_before)}",
                f"metadata revision: {metadata.revision}",
            ]
        )
        self.emit(human, {"metadata": metadata.to_json()})

    def notification(self, n: Notification) -> None:
        types = ",".join(n.event_types)
        human = f"{n.stream_type}/{n.stream_id} revisions {n.from_revision}..{n.to_revision} {types}".rstrip()
        if n.deleted:
            human = f"{n.stream_type}/{n.stream_id} deleted ({n.deleted}) at revision {n.to_revision}"
        self.emit(human, n.to_json())

    def error(self, message: str, exc: EventStoreError | None = None) -> None:
        """One line: the problem document with --json, else the message (invalid fields folded in)."""
        if self.as_json:
            problem = dict(exc.problem) if exc is not None else {}
            problem.setdefault("title", message)
            self.err.write(json.dumps({"error": problem}) + "\n")
            return
        if isinstance(exc, InvalidRequest) and exc.invalid_params and not exc.detail:
            message += ": " + "; ".join(f"{p.name}: {p.reason}" for p in exc.invalid_params)
        prefix = "eventstore: error:"
        if self._colour_err:
            prefix = f"{_RED}{prefix}{_RESET}"
        self.err.write(f"{prefix} {' '.join(message.split())}\n")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.err.write(message + "\n")


class Progress:
    """A one-line counter on stderr, redrawn at most 5 times a second, and only on a terminal; with a
    known total it shows the share done and the time left at the rate so far."""

    def __init__(
        self,
        err: IO[str],
        label: str,
        total: int | None,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._err, self._label, self.total = err, label, total
        self.enabled = enabled and err.isatty()
        self._clock = clock
        self._count = 0
        self._start = self._drawn = clock()

    def __call__(self, n: int) -> None:
        self._count += n
        now = self._clock()
        if self.enabled and now - self._drawn >= 0.2:  # noqa: PLR2004
            self._draw(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self._count / elapsed
        if self.total is None:
            return f"{self._label}: {self._count} events ({rate:.0f}/s)"
        share = 100 * self._count // max(self.total, 1)
        text = f"{self._label}: {self._count}/{self.total} events, {share}% ({rate:.0f}/s"
        if 0 < self._count < self.total:
            text += f", ETA {_duration((self.total - self._count) / rate)}"
        return text + ")"

    def _draw(self, now: float) -> None:
        self._drawn = now
        self._err.write(f"\r\033[K{self.line(now)}")  # \033[K: clear what a longer earlier line left
        self._err.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(self._clock())
            self._err.write("\n")


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after its name. Only the top-level parser sets their
    defaults: a subcommand's would overwrite what was given before the command name."""

    def default(*, value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--url",
        default=default(value=os.environ.get("EVENTSTORE_URL")),
        help="API URL (default: EVENTSTORE_URL)",
    )
    group.add_argument(
        "--region",
        default=default(value=None),
        help="AWS region for signing (default: from the URL, the profile, AWS_REGION or AWS_DEFAULT_REGION)",
    )
    group.add_argument(
        "--profile", default=default(value=None), help="AWS profile for credentials (default: AWS_PROFILE)"
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(value=False),
        help="machine-readable output: JSON (lines)",
    )
    group.add_argument(
        "--quiet", action="store_true", default=default(value=False), help="no progress or notes on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eventstore",
        description="Command line for the serverless event store (requests are SigV4-signed).",
        epilog=__doc__.split("\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('eventstore-client')}")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, top=False)
        return sub

    _write_commands(command)
    _read_commands(command)
    _feed_commands(command)
    _transfer_commands(command)
    console = command("console", "serve the web console on 127.0.0.1, signing its API calls")
    console.add_argument(
        "--port", type=_not_negative, default=8080, help="port (0: any free one; default %(default)s)"
    )
    console.add_argument(
        "--allow-writes", action="store_true", help="add forms to create, append to and delete streams"
    )
    _archive_commands(command)
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script: `source <(eventstore completion bash)` (or put it in "
        "~/.bashrc), `eventstore completion zsh > ~/.zfunc/_eventstore`.",
    )
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    return parser


type _Command = Callable[[str, str], argparse.ArgumentParser]


def _write_commands(command: _Command) -> None:
    delete = command("delete", "delete a stream: soft (an append starts it again) or --tombstone (for good)")
    delete.add_argument("stream_type", metavar="STREAM_TYPE")
    delete.add_argument("stream_id", metavar="STREAM_ID")
    delete.add_argument("--expected-revision", type=_positive, help="only if the stream is at this revision")
    delete.add_argument("--tombstone", action="store_true", help="delete for good: never written again")

    create = command("create", "create a stream with its first event(s)")
    create.add_argument("stream_type", metavar="STREAM_TYPE")
    create.add_argument("--stream-id", help="choose the stream id (a UUID); default: derived by the server")
    _event_arguments(create)

    append = command("append", "append event(s) to a stream")
    append.add_argument("stream_type", metavar="STREAM_TYPE")
    append.add_argument("stream_id", metavar="STREAM_ID")
    _event_arguments(append)
    where = append.add_mutually_exclusive_group()
    where.add_argument(
        "--expected-revision",
        type=_expected_revision,
        default="any",
        help='the current revision, or "any" (default)',
    )
    where.add_argument("--revision", type=_positive, help="put a single event at this revision (current + 1)")


def _read_commands(command: _Command) -> None:
    read = command("read", "print a stream's events")
    read.add_argument("stream_type", metavar="STREAM_TYPE")
    read.add_argument("stream_id", metavar="STREAM_ID")
    read.add_argument("--after-revision", type=_not_negative, default=0)
    read.add_argument("--max", type=_positive, help="stop after this many events")

    listing = command("list", "print the streams of a type, oldest update first")
    listing.add_argument("stream_type", metavar="STREAM_TYPE")
    listing.add_argument("--updated-after", type=_timestamp, help="RFC 3339 time")
    listing.add_argument("--max", type=_positive, help="stop after this many streams")

    details = command("details", "print a stream's revision and last update")
    details.add_argument("stream_type", metavar="STREAM_TYPE")
    details.add_argument("stream_id", metavar="STREAM_ID")

    snapshot = command("snapshot", "read or store a stream's snapshot (a folded state as of a revision)")
    actions = snapshot.add_subparsers(dest="snapshot_action", metavar="ACTION", required=True)
    get = actions.add_parser("get", help="print the snapshot", description="print the stream's snapshot")
    put = actions.add_parser(
        "put",
        help="store a snapshot (refused when the stream keeps a newer one)",
        description="store the stream's snapshot as of --revision",
    )
    for action in (get, put):
        action.add_argument("stream_type", metavar="STREAM_TYPE")
        action.add_argument("stream_id", metavar="STREAM_ID")
    put.add_argument("--revision", type=_positive, required=True, help="the last event folded into the state")
    put.add_argument("--snapshot-type", required=True, help="the state's shape, e.g. order-v1")
    put.add_argument("--state", type=_json_value, required=True, help="the state, as JSON")
    put.add_argument("--data-subject", help="encrypt the state under this data subject's key")

    metadata = command("metadata", "print a stream's lifecycle settings, or set them (any option given)")
    metadata.add_argument("stream_type", metavar="STREAM_TYPE")
    metadata.add_argument("stream_id", metavar="STREAM_ID")
    metadata.add_argument("--max-count", type=_positive, help="keep the newest N events visible")
    metadata.add_argument(
        "--max-age", type=_positive, metavar="SECONDS", help="keep the last S seconds' events"
    )
    metadata.add_argument(
        "--truncate-before", type=_positive, metavar="REVISION", help="hide revisions below R"
    )
    metadata.add_argument(
        "--clear", action="store_true", help="set: remove the settings not given (the type's defaults apply)"
    )
    metadata.add_argument(
        "--expected-metadata-revision",
        type=_not_negative,
        help="set only if the metadata is at this revision",
    )

    tail = command("tail", "follow a stream (polling) or a notification queue (--queue)")
    tail.add_argument("stream_type", metavar="STREAM_TYPE", nargs="?")
    tail.add_argument("stream_id", metavar="STREAM_ID", nargs="?")
    tail.add_argument(
        "--queue",
        help="SQS queue URL subscribed to the topic; notifications are deleted. An emulator's queue is "
        "reached at its URL's host unless AWS_ENDPOINT_URL is set",
    )
    tail.add_argument("--keep", action="store_true", help="with --queue: do not delete the messages")
    tail.add_argument(
        "--after-revision", type=_not_negative, help="start after this revision (default: the current one)"
    )
    tail.add_argument("--interval", type=_seconds, default=1.0, help="seconds between polls of a stream")
    tail.add_argument("--max", type=_positive, help="stop after this many events or notifications")
    tail.add_argument("--idle-timeout", type=_seconds, help="stop after this many seconds without any")


def _feed_commands(command: _Command) -> None:
    feed = command("feed", "print a feed's events as JSON Lines, from a position, optionally following it")
    feed.add_argument(
        "--type", dest="feed_type", metavar="STREAM_TYPE", help="the type's feed (default: all types)"
    )
    start = feed.add_mutually_exclusive_group()
    start.add_argument(
        "--after", metavar="POSITION", help="start after this position (an event's or a page's)"
    )
    start.add_argument(
        "--from-start",
        action="store_true",
        help="start at the feed's beginning (the default without --after)",
    )
    feed.add_argument("--follow", action="store_true", help="at the head, keep polling for new events")
    feed.add_argument(
        "--event-type",
        dest="event_types",
        metavar="EVENT_TYPE",
        action="append",
        help="only events of this type (repeat for several)",
    )
    feed.add_argument("--group-member", type=_not_negative, help="consumer-group member (with --group-size)")
    feed.add_argument("--group-size", type=_positive, help="consumer-group size, up to 64")
    feed.add_argument(
        "--interval", type=_seconds, default=1.0, help="with --follow: longest pause between polls"
    )
    feed.add_argument("--max", type=_positive, help="stop after this many events")
    feed.add_argument(
        "--idle-timeout", type=_seconds, help="with --follow: stop after this many seconds without any"
    )

    checkpoint = command("checkpoint", "read or store a consumer's feed position")
    actions = checkpoint.add_subparsers(dest="checkpoint_action", metavar="ACTION", required=True)
    get = actions.add_parser("get", help="print a checkpoint", description="print a checkpoint")
    get.add_argument("name", metavar="NAME")
    put = actions.add_parser(
        "set", help="store a position (compare-and-set with --expected)", description="store a position"
    )
    put.add_argument("name", metavar="NAME")
    put.add_argument("position", metavar="POSITION")
    expected = put.add_mutually_exclusive_group()
    expected.add_argument("--expected", metavar="POSITION", help="only if the stored position is this one")
    expected.add_argument(
        "--expect-new", action="store_true", help="only if the checkpoint does not exist yet"
    )


def _transfer_commands(command: _Command) -> None:
    export = command("export", "write streams as JSON Lines, one event a line")
    export.add_argument("stream_type", metavar="STREAM_TYPE")
    export.add_argument(
        "stream_ids",
        metavar="STREAM_ID",
        nargs="*",
        default=[],  # without a default argparse calls a `*` positional required in its messages
        help="default: every stream of the type (from the listing)",
    )
    export.add_argument("-o", "--output", metavar="FILE", default="-", help="file (default: stdout)")
    export.add_argument(
        "--after-revision", type=_not_negative, default=0, help="only events after this revision"
    )
    export.add_argument("--updated-after", type=_timestamp, help="only streams updated after this time")
    export.add_argument(
        "--resume", action="store_true", help="append to --output after what it already holds"
    )

    imp = command("import", "write exported JSON Lines; re-runs skip or replay what exists")
    imp.add_argument("input", metavar="FILE", nargs="?", default="-", help="file (default: stdin)")
    imp.add_argument(
        "--stream-type",
        dest="target_type",
        metavar="TYPE",
        help="write every stream as this type (stream ids are unique across types: see --new-ids)",
    )
    imp.add_argument(
        "--new-ids",
        action="store_true",
        help="give each stream a new id derived from its type and old id (the same on every re-run), "
        "to copy streams within the store they came from",
    )


def _archive_commands(command: _Command) -> None:
    archive = command("archive", "read removed events back from the archive bucket (S3; no API URL needed)")
    actions = archive.add_subparsers(dest="archive_action", metavar="ACTION", required=True)
    read = actions.add_parser(
        "read",
        help="print a stream's archived events as JSON Lines, each object checked against its SHA-256",
        description="Print a stream's archived events (or one span's) as JSON Lines in revision order, "
        "after checking each object's SHA-256 against the stream's manifest. Sealed payloads are opened "
        "with --keys-table (and KMS), or printed sealed.",
    )
    _global_options(read, top=False)
    read.add_argument("stream_id", metavar="STREAM_ID")
    read.add_argument(
        "--bucket",
        default=os.environ.get("EVENTSTORE_ARCHIVE_BUCKET"),
        help="the archive bucket (default: EVENTSTORE_ARCHIVE_BUCKET; Terraform's archive_bucket output)",
    )
    read.add_argument("--span", metavar="KEY", help="only this span object (a key from the manifest)")
    read.add_argument(
        "--keys-table",
        metavar="TABLE",
        help="the data-subject keys table: open sealed payloads (erased subjects print data null)",
    )


def _archive_read(args: argparse.Namespace, out: Output) -> None:
    if not args.bucket:
        raise UsageError("no archive bucket: pass --bucket or set EVENTSTORE_ARCHIVE_BUCKET")
    session = botocore.session.Session(profile=args.profile)
    region = {"region_name": args.region} if args.region else {}
    s3 = session.create_client("s3", **region)
    opener = (
        PayloadOpener(
            session.create_client("dynamodb", **region),
            session.create_client("kms", **region),
            args.keys_table,
        )
        if args.keys_table
        else None
    )
    for event in read_stream(s3, args.bucket, args.stream_id, args.span):
        line = opener.open(event) if opener is not None else mark_sealed(event)
        out.out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def _event_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--type", dest="event_type", help="the event type")
    source.add_argument(
        "--events",
        metavar="FILE",
        help="JSON array or JSON Lines of {eventType, payload, metadata, eventId}; - for stdin",
    )
    parser.add_argument("--payload", type=_json_value, help="the payload, as JSON (a string is '\"text\"')")
    parser.add_argument("--metadata", type=_json_value, help="metadata, a JSON object")
    parser.add_argument("--event-id", help="choose the event id (a UUID); default: a new one")


def _type_name_problem(text: str) -> str | None:
    if re.fullmatch(TYPE_NAME_PATTERN, text) and len(text) <= TYPE_NAME_MAX:
        return None
    return f"must be {_TYPE_NAME_RULE}, not {text!r}"


def _uuid_problem(text: str) -> str | None:
    if re.fullmatch(UUID_PATTERN, text):
        return None
    return f"must be a UUID (such as 3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11), not {text!r}"


def _checkpoint_name_problem(text: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9._:-]{1,200}", text):
        return None
    return f"must be 1 to 200 letters, digits, '.', '_', ':' or '-', not {text!r}"


# Names and ids the API would refuse, checked before any request to say so in words; like the API's own
# refusal, they exit 4 (invalid input), not 1 (usage).
_CHECKED_ARGUMENTS: tuple[tuple[str, str, Callable[[str], str | None]], ...] = (
    ("stream_type", "stream type", _type_name_problem),
    ("target_type", "--stream-type", _type_name_problem),
    ("stream_id", "stream id", _uuid_problem),
    ("stream_ids", "stream id", _uuid_problem),
    ("event_type", "--type", _type_name_problem),
    ("event_id", "--event-id", _uuid_problem),
    ("feed_type", "--type", _type_name_problem),
    ("event_types", "--event-type", _type_name_problem),
    ("name", "checkpoint name", _checkpoint_name_problem),
)


def _check_arguments(args: argparse.Namespace) -> None:
    for dest, label, problem_of in _CHECKED_ARGUMENTS:
        value = getattr(args, dest, None)
        for text in value if isinstance(value, list) else [value]:
            problem = problem_of(text) if text is not None else None
            if problem:
                raise InvalidInput(f"{label} {problem}")


def _integer(text: str, minimum: int, words: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {words}, not {text!r}")
    return value


def _positive(text: str) -> int:
    return _integer(text, 1, "a whole number of 1 or more")


def _not_negative(text: str) -> int:
    return _integer(text, 0, "a whole number of 0 or more")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, not {text!r}")
    return value


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({_json_problem(exc)}): {text!r}") from exc


def _json_problem(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _expected_revision(text: str) -> ExpectedRevision:
    if text == "any":
        return "any"
    return _integer(text, 0, 'a whole number of 0 or more, or "any"')


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"must be an RFC 3339 time such as 2026-01-31T12:00:00Z, not {text!r}"
        ) from exc


def _events(args: argparse.Namespace) -> list[NewEvent]:
    if args.event_type is not None:
        metadata = args.metadata
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInput("--metadata must be a JSON object")
        extra = {"event_id": args.event_id} if args.event_id else {}
        return [NewEvent(args.event_type, args.payload, metadata, **extra)]
    if args.payload is not None or args.metadata is not None or args.event_id:
        raise UsageError("--payload, --metadata and --event-id go with --type, not --events")
    source = "stdin" if args.events == "-" else args.events
    text = sys.stdin.read() if args.events == "-" else Path(args.events).read_text(encoding="utf-8")
    return [_event_item(source, number, item) for number, item in _json_items(source, text)]


def _json_items(source: str, text: str) -> list[tuple[str, Any]]:
    """(what to call it in a message, value) for each event of a JSON array or of JSON Lines."""
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--events {source}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc
        if not isinstance(items, list):
            raise UsageError(f"--events {source}: not a JSON array of events")
        return [(f"event {n}", item) for n, item in enumerate(items, start=1)]
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--events {source}: line {number} is not JSON: {exc.msg} (column {exc.colno})"
            ) from exc
    if not found:
        raise UsageError(f"--events {source}: no events")
    return found


def _event_item(source: str, where: str, item: Any) -> NewEvent:
    if not isinstance(item, dict):
        raise UsageError(f"--events {source}: {where} is not a JSON object")
    checks = (
        ("eventType", _type_name_problem, True),
        ("eventId", _uuid_problem, False),
    )
    for key, problem_of, required in checks:
        value = item.get(key)
        if value is None and not required:
            continue
        if not isinstance(value, str):
            raise UsageError(f"--events {source}: {where} has no {key} string")
        problem = problem_of(value)
        if problem:
            raise InvalidInput(f"--events {source}: {where}: {key} {problem}")
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInput(f"--events {source}: {where}: metadata must be a JSON object")
    return NewEvent.from_json(item)


def _create(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    out.written(client.create_stream(args.stream_type, _events(args), stream_id=args.stream_id), "created")


def _append(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    events = _events(args)
    if args.revision is None:
        result = client.append(
            args.stream_type, args.stream_id, events, expected_revision=args.expected_revision
        )
        out.written(result, "appended to")
        return
    try:
        result = client.append(args.stream_type, args.stream_id, events, revision=args.revision)
    except WrongExpectedRevision as exc:
        # The API speaks of the expected revision (one less); say it in the terms of --revision.
        current = exc.current_revision
        where = (
            f": the stream is at revision {current}, so the next is {current + 1}"
            if current is not None
            else ""
        )
        message = f"--revision {args.revision} is not the stream's next revision{where}"
        raise WrongExpectedRevision(message, status=exc.status, problem=exc.problem) from exc
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
    listed = 0
    for stream in _limited(client.list_streams(args.stream_type, updated_after=args.updated_after), args.max):
        out.stream(stream)
        listed += 1
    if not listed:
        after = f" updated after {args.updated_after.isoformat()}" if args.updated_after else ""
        out.note(f"no streams of type {args.stream_type}{after}")


def _details(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    out.details(client.get_stream(args.stream_type, args.stream_id))


def _delete(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    client.delete_stream(
        args.stream_type, args.stream_id, expected_revision=args.expected_revision, tombstone=args.tombstone
    )
    out.note(f"deleted {args.stream_type}/{args.stream_id}{' for good' if args.tombstone else ''}")


def _metadata(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    given = {
        "max_count": args.max_count,
        "max_age_seconds": args.max_age,
        "truncate_before": args.truncate_before,
    }
    if all(v is None for v in given.values()) and not args.clear:
        if args.expected_metadata_revision is not None:
            raise UsageError("--expected-metadata-revision goes with a setting to change (or --clear)")
        out.metadata(client.get_metadata(args.stream_type, args.stream_id))
        return
    if not args.clear:
        # Only the options given change: the others keep their stored values.
        current = client.get_metadata(args.stream_type, args.stream_id)
        given = {name: getattr(current, name) if value is None else value for name, value in given.items()}
    out.metadata(
        client.set_metadata(
            args.stream_type, args.stream_id, **given, expected_revision=args.expected_metadata_revision
        )
    )


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
    if not re.match(r"https?://[^/]+/", args.queue):
        raise UsageError(f"--queue must be an SQS queue URL (http:// or https://), not {args.queue!r}")
    wait = 20 if args.idle_timeout is None else max(0, min(20, int(args.idle_timeout)))
    consumer = NotificationConsumer(
        args.queue, region=client.region, session=args.session, wait_time_seconds=wait
    )
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


def _feed(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    """JSON Lines on stdout; a counter on stderr (a terminal only) and, at the end, where to resume."""
    if (args.group_member is None) != (args.group_size is None):
        raise UsageError("--group-member and --group-size go together")
    after: str | None = args.after
    progress = Progress(out.err, "read", None, enabled=not out.quiet)
    seen, idle_since, pause = 0, time.monotonic(), min(_FIRST_PAUSE, args.interval)
    try:
        while True:
            for page in client.feed_pages(
                args.feed_type,
                after=after,
                event_types=args.event_types,
                member=args.group_member,
                size=args.group_size,
                page_size=MAX_PAGE_SIZE,
            ):
                for event in page.events:
                    out.out.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
                    after, seen = event.position, seen + 1
                    if args.max is not None and seen >= args.max:
                        return
                out.out.flush()
                progress(len(page.events))
                if page.events:
                    idle_since, pause = time.monotonic(), min(_FIRST_PAUSE, args.interval)
                after = page.last_position or after
            if not args.follow:
                return
            if args.idle_timeout is not None and time.monotonic() - idle_since >= args.idle_timeout:
                return
            time.sleep(pause)
            pause = min(pause * 2, args.interval)
    finally:
        progress.close()
        if after is not None:
            out.note(f"{_plural(seen, 'event')}; resume with --after {after}")


def _checkpoint(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    if args.checkpoint_action == "get":
        checkpoint = client.get_checkpoint(args.name)
    else:
        expected: str | _Unset | None = UNSET
        if args.expect_new:
            expected = None
        elif args.expected is not None:
            expected = args.expected
        checkpoint = client.put_checkpoint(args.name, args.position, expected=expected)
    out.emit(
        f"{checkpoint.name}  {checkpoint.position}  updated {checkpoint.updated_at.isoformat()}",
        {"checkpoint": checkpoint.to_json()},
    )


def _snapshot(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    if args.snapshot_action == "get":
        snapshot = client.get_snapshot(args.stream_type, args.stream_id)
        erased = " (erased)" if snapshot.state_erased else ""
        created = snapshot.created_at.isoformat()
        out.emit(
            f"revision {snapshot.revision}  {snapshot.snapshot_type}  created {created}{erased}  "
            + json.dumps(snapshot.state),
            {"snapshot": snapshot.to_json()},
        )
        return
    written = client.put_snapshot(
        args.stream_type,
        args.stream_id,
        args.revision,
        args.snapshot_type,
        args.state,
        data_subject=args.data_subject,
    )
    note = " (replayed)" if written.replayed else ""
    out.emit(
        f"stored snapshot of {args.stream_type}/{args.stream_id} at revision {written.revision}{note}",
        {"snapshot": written.to_json()},
    )


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
    progress = Progress(out.err, "exported", None, enabled=not out.quiet)
    if progress.enabled and args.stream_ids:
        # Named streams: their revisions give the total, so the counter can show the time left.
        progress.total = sum(
            max(0, client.get_stream(args.stream_type, stream_id).revision - start)
            for stream_id in args.stream_ids
            for start in [max(args.after_revision, resume_from.get(stream_id, 0))]
        )
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
    out.note(f"exported {_plural(count, 'event')}")


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
        progress = Progress(out.err, "imported", total, enabled=not out.quiet)
        try:
            summary = import_events(
                client, lines, progress=progress, stream_type=args.target_type, new_ids=args.new_ids
            )
        except StreamAlreadyExists as exc:
            if exc.current_revision is not None or args.new_ids:
                raise
            # No revision: the id is another stream type's (whose revision is not ours to see).
            raise StreamAlreadyExists(
                f"{exc}; to import under new stream ids, add --new-ids",
                status=exc.status,
                problem=exc.problem,
            ) from exc
        finally:
            progress.close()
    if not out.as_json:
        for old, new in summary.new_stream_ids.items():
            out.emit(f"{old} -> {new}", None)
    out.emit(
        f"imported {_plural(summary.written, 'event')} into {_plural(summary.streams, 'stream')} "
        f"({summary.skipped} already there, {summary.replayed} replayed)",
        summary.to_json(),
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _console(client: EventStoreClient, args: argparse.Namespace, out: Output) -> None:
    # The console's server (http.server) loads only for this command.
    from eventstore_client.console import ConsoleServer  # noqa: PLC0415

    server = ConsoleServer(
        args.url, region=client.region, session=args.session, allow_writes=args.allow_writes, port=args.port
    )
    mode = "writes allowed" if args.allow_writes else "read-only"
    if out.as_json:
        out.out.write(
            json.dumps({"url": server.url, "api": server.api_url, "allowWrites": args.allow_writes}) + "\n"
        )
    else:
        out.out.write(f"console at {server.url} ({mode}) for {server.api_url}; Ctrl-C stops it\n")
    out.out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.note("stopped")
    finally:
        server.stop_serving()


COMMANDS: dict[str, Callable[[EventStoreClient, argparse.Namespace, Output], None]] = {
    "create": _create,
    "append": _append,
    "read": _read,
    "list": _list,
    "details": _details,
    "delete": _delete,
    "metadata": _metadata,
    "tail": _tail,
    "feed": _feed,
    "checkpoint": _checkpoint,
    "snapshot": _snapshot,
    "export": _export,
    "import": _import,
    "console": _console,
}


def _completion(parser: argparse.ArgumentParser, shell: str) -> str:
    # shtab costs ~65 ms to import: only this command pays it.
    import shtab  # noqa: PLC0415

    for action in _all_actions(parser):
        if action.metavar == "FILE":
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell=shell))


def _all_actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of a parser's actions
        yield action
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                yield from _all_actions(sub)


def exit_code(exc: EventStoreError) -> int:
    for cls, code in _EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


def _botocore_exit_code(exc: BotoCoreError | ClientError) -> int:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _SQS_NOT_FOUND:
            return EXIT_NOT_FOUND
        return EXIT_UNAVAILABLE if code in _THROTTLED else EXIT_ERROR
    for cls, exit_status in _BOTOCORE_EXIT_CODES:
        if isinstance(exc, cls):
            return exit_status
    return EXIT_ERROR


def _check_url(url: str | None) -> str:
    if not url:
        raise UsageError("no API URL: pass --url or set EVENTSTORE_URL")
    if not re.match(r"https?://[^/?#]+", url):
        raise UsageError(
            f"the API URL must start with http:// or https:// (such as http://127.0.0.1:8000), not {url!r}"
        )
    return url


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Every failure ends as one line on stderr (the problem document with --json)
    and an exit code from the module's table; never as a traceback."""
    out = Output(as_json=False, quiet=False, out=sys.stdout, err=sys.stderr)
    try:
        return _run(argv, out)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Python's docs' recipe: point stdout at devnull so
        # the interpreter's last flush of it cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(argv: Sequence[str] | None, out: Output) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "completion":
        out.out.write(_completion(parser, args.shell))
        return EXIT_OK
    out.as_json, out.quiet = args.json, args.quiet
    try:
        if args.command == "archive":
            _archive_read(args, out)
            return EXIT_OK
        _check_arguments(args)
        url = _check_url(args.url)
        args.session = botocore.session.Session(profile=args.profile)
        with EventStoreClient(url, region=args.region, session=args.session) as client:
            COMMANDS[args.command](client, args, out)
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - the promise: one line and an exit code, never a traceback
        return _report(exc, out)
    return EXIT_OK


def _report(exc: Exception, out: Output) -> int:
    """Say what went wrong in one line; the exit code says which kind of failure it was."""
    problem: EventStoreError | None = None
    if isinstance(exc, MissingRegion):
        message, code = "no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION", EXIT_USAGE
    elif isinstance(exc, EventStoreError):
        message, code, problem = str(exc), exit_code(exc), exc
    elif isinstance(exc, InvalidInput | ArchiveIntegrityError):
        message, code = str(exc), EXIT_INVALID
    elif isinstance(exc, ArchiveNotFound):
        message, code = str(exc), EXIT_NOT_FOUND
    elif isinstance(exc, BotoCoreError | ClientError):
        message, code = str(exc), _botocore_exit_code(exc)
    elif isinstance(exc, OSError):  # files named on the command line
        message = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
        code = EXIT_USAGE
    elif isinstance(exc, UsageError | ValueError):
        message, code = str(exc), EXIT_USAGE
    else:
        message, code = f"unexpected {type(exc).__name__}: {exc}", EXIT_ERROR
    out.error(message, problem)
    return code
