"""Export streams to JSON Lines and import them back: resumable, and idempotent because ids are kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventstore_client.client import EventStoreClient
from eventstore_client.errors import EventIdConflict, InvalidImportData, StreamNotFound
from eventstore_client.models import NewEvent, RecordedEvent

_IMPORTED_ID_NAMESPACE = uuid.UUID("5d6f1d0e-1f7b-4b8e-a5f2-3c9d8e7a6b41")
_NEW_STREAM_ID_NAMESPACE = uuid.UUID("9b2c4f6e-8a1d-4c3b-b5e7-2f0a6d8c1e94")

MAX_BATCH_EVENTS = 100
# An append is one DynamoDB item (400 KB); leave room for keys and server-added metadata.
MAX_BATCH_BYTES = 300_000
# Metadata the server records itself and refuses from clients (openapi.yaml, Metadata).
SERVER_METADATA = frozenset({"principal", "requestId"})
REQUIRED_FIELDS = ("streamType", "streamId", "revision", "eventType")

type Progress = Callable[[int], None]


def export_events(
    client: EventStoreClient,
    stream_type: str,
    stream_ids: Iterable[str] | None = None,
    *,
    after_revision: int = 0,
    resume_from: Mapping[str, int] | None = None,
    updated_after: datetime | None = None,
) -> Iterator[RecordedEvent]:
    """Events of the given streams (or of every stream of the type) after `after_revision`, or after the
    revision `resume_from` names for a stream (what an earlier, interrupted export already wrote)."""
    exported: dict[str, int] = dict(resume_from or {})
    ids = (
        stream_ids
        if stream_ids is not None
        else (s.stream_id for s in client.list_streams(stream_type, updated_after=updated_after))
    )
    # The listing repeats a stream that was updated while we paged; reading after what was exported
    # turns the repeat into "only the new events".
    for stream_id in ids:
        start = max(after_revision, exported.get(stream_id, 0))
        for event in client.read_events(stream_type, stream_id, after_revision=start):
            exported[stream_id] = event.revision
            yield event


def exported_revisions(lines: Iterable[str]) -> dict[str, int]:
    """The last revision per stream in an existing export file, to resume it."""
    last: dict[str, int] = {}
    for line in lines:
        if line.strip():
            record = json.loads(line)
            last[record["streamId"]] = max(last.get(record["streamId"], 0), int(record["revision"]))
    return last


@dataclass(frozen=True, slots=True)
class ImportSummary:
    streams: int
    written: int
    skipped: int
    replayed: int
    new_stream_ids: Mapping[str, str] = field(default_factory=dict)  # file's id -> id written (new_ids)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "streams": self.streams,
            "written": self.written,
            "skipped": self.skipped,
            "replayed": self.replayed,
        }
        if self.new_stream_ids:
            document["newStreamIds"] = dict(self.new_stream_ids)
        return document


def new_stream_id(stream_type: str, stream_id: str) -> str:
    """The id a stream gets when imported under `stream_type` with new ids: derived, not random, so a
    re-run of the import finds the streams the first run wrote."""
    return str(uuid.uuid5(_NEW_STREAM_ID_NAMESPACE, f"{stream_type}/{stream_id}"))


def import_events(
    client: EventStoreClient,
    lines: Iterable[str],
    *,
    progress: Progress | None = None,
    stream_type: str | None = None,
    new_ids: bool = False,
) -> ImportSummary:
    """Write exported events with their ids. Each run of lines of one stream continues from the stream's
    current revision: events the stream already has are skipped (after checking the id of the newest one),
    the rest are appended in batches with an exact expected revision.

    `stream_type` writes every stream of the file as that type. Stream ids are unique across all types of
    a store, so copying streams into the store they came from needs `new_ids`: each stream then gets
    `new_stream_id(type, its id)` (event ids are kept)."""
    counts = {"streams": 0, "written": 0, "skipped": 0, "replayed": 0}
    renamed: dict[str, str] = {}
    records = _retargeted(_records(lines), stream_type, renamed if new_ids else None)
    for group in _stream_runs(records):
        counts["streams"] += 1
        _import_stream(client, group, counts, progress or (lambda _n: None))
    return ImportSummary(**counts, new_stream_ids=renamed)


def _retargeted(
    records: Iterator[tuple[int, dict[str, Any]]], stream_type: str | None, renamed: dict[str, str] | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, record in records:
        changed = dict(record)
        if stream_type is not None:
            changed["streamType"] = stream_type
        if renamed is not None:
            old = str(record["streamId"])
            changed["streamId"] = renamed.setdefault(old, new_stream_id(changed["streamType"], old))
        yield number, changed


def _records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InvalidImportData(f"line {number}: not JSON") from exc
        missing = [k for k in REQUIRED_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise InvalidImportData(f"line {number}: not an exported event (missing {', '.join(missing)})")
        yield number, record


def _stream_runs(records: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    run: list[tuple[int, dict[str, Any]]] = []
    for item in records:
        key = (item[1]["streamType"], item[1]["streamId"])
        if run and (run[0][1]["streamType"], run[0][1]["streamId"]) != key:
            yield run
            run = []
        run.append(item)
    if run:
        yield run


def _import_stream(
    client: EventStoreClient,
    group: list[tuple[int, dict[str, Any]]],
    counts: dict[str, int],
    progress: Progress,
) -> None:
    stream_type, stream_id = group[0][1]["streamType"], group[0][1]["streamId"]
    try:
        current = client.get_stream(stream_type, stream_id).revision
    except StreamNotFound:
        current = 0
    existing = [record for _, record in group if int(record["revision"]) <= current]
    if existing:
        _check_same_event(client, stream_type, stream_id, existing[-1])
        counts["skipped"] += len(existing)
        progress(len(existing))
    batch: list[NewEvent] = []
    size = 0
    for number, record in group[len(existing) :]:
        if int(record["revision"]) != current + len(batch) + 1:
            raise InvalidImportData(
                f"line {number}: {stream_type}/{stream_id} revision {record['revision']} does not follow "
                f"revision {current + len(batch)}"
            )
        event = _new_event(record)
        event_size = len(json.dumps(event.to_json()))
        if batch and (len(batch) == MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            current = _write(client, (stream_type, stream_id), current, batch, counts)
            progress(len(batch))
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        _write(client, (stream_type, stream_id), current, batch, counts)
        progress(len(batch))


def _check_same_event(
    client: EventStoreClient, stream_type: str, stream_id: str, record: dict[str, Any]
) -> None:
    revision = int(record["revision"])
    stored = next(client.read_events(stream_type, stream_id, after_revision=revision - 1, page_size=1), None)
    if stored is None or stored.event_id != _event_id(record):
        raise EventIdConflict(
            f"{stream_type}/{stream_id} revision {revision} holds another event than the file "
            f"({stored.event_id if stored else 'none'} != {_event_id(record)})"
        )


def _event_id(record: Mapping[str, Any]) -> str:
    """The line's event id; for an event stored without one (the original service wrote some), an id
    derived from its place, so a re-run of the import sends and checks the same id again."""
    given = record.get("eventId")
    if given:
        return str(given)
    place = f"{record['streamType']}/{record['streamId']}/{record['revision']}"
    return str(uuid.uuid5(_IMPORTED_ID_NAMESPACE, place))


def _new_event(record: dict[str, Any]) -> NewEvent:
    metadata = {k: v for k, v in (record.get("metadata") or {}).items() if k not in SERVER_METADATA}
    return NewEvent.from_json(record | {"metadata": metadata, "eventId": _event_id(record)})


def _write(
    client: EventStoreClient,
    stream: tuple[str, str],
    current: int,
    batch: list[NewEvent],
    counts: dict[str, int],
) -> int:
    stream_type, stream_id = stream
    if current == 0:
        result = client.create_stream(stream_type, batch, stream_id=stream_id)
    else:
        result = client.append(stream_type, stream_id, batch, expected_revision=current)
    counts["written"] += len(batch)
    counts["replayed"] += len(batch) if result.replayed else 0
    return current + len(batch)
