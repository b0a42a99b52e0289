"""--data-dir: every write the table acknowledged survives a restart, kill -9 included.

With the built-in emulator, each DynamoDB request that changed something is appended to a journal, flushed
and fsynced before its answer leaves the emulator (`emulator.SerializedDynamoDB`). Every DynamoDB request
runs under one lock and, before it is answered, waits until every journal line written before it released
that lock is on disk: no answer, the stream pump's reads included, can show a write the disk does not hold.
Writers waiting together share one fsync (group commit).

On start the last snapshot is restored and the journal replayed in order through moto (the requests are
deterministic given the state they ran on); then a new snapshot replaces both (compaction). Snapshot and
journal carry a generation number, so a crash between writing the snapshot and deleting the old journal
never replays that journal twice.

A snapshot is `settled` when every commit in it had been handed to notify_stream: written at a stop after
the pump drained the stream. Then the pump starts past the restored items. After a crash it is not, and the
pump reads the restored stream from its start: notify_stream skips what its per-stream cursor (journaled
with the rest) says was published, and publishes the rest, so nothing acknowledged goes unnotified.

With an external emulator (AWS_ENDPOINT_URL) that emulator keeps the table; the data dir then holds a
periodic snapshot (`save_items`/`restore_items`) and the pump's positions, as before.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from local_runtime.dynamodb_json import decode_item, encode_item

if TYPE_CHECKING:
    from pathlib import Path

    from local_runtime.aws import Clients
    from local_runtime.emulator import Exclusive

log = logging.getLogger(__name__)

_BATCH_WRITE_LIMIT = 25
_JOURNAL_NAME = re.compile(r"^journal-(\d+)\.log$")


class JournalCorruptError(RuntimeError):
    """A journal line other than the last fails its checksum: acknowledged writes would be lost."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One acknowledged DynamoDB request, as sent: enough for moto to apply it again."""

    target: str
    """X-Amz-Target, e.g. DynamoDB_20120810.PutItem."""
    authorization: str
    """The Authorization header: moto derives the region and account from its credential scope."""
    body: str
    """UTF-8 JSON, decoded with surrogateescape (so any byte would survive)."""

    def encode(self) -> bytes:
        """A line: CRC-32 of the JSON, a space, the JSON, a newline (a torn or garbled line shows)."""
        data = json.dumps({"t": self.target, "a": self.authorization, "b": self.body}).encode()
        return b"%08x %s\n" % (zlib.crc32(data), data)


def read_journal(path: Path) -> tuple[list[JournalEntry], bool]:
    """The journal's entries, and whether its last line was torn (written partly when the process died).

    A torn last line was never acknowledged (its answer waits for the fsync of the whole line), so it is
    dropped; a bad line before the last is corruption and stops the start rather than lose what follows.
    """
    if not path.exists():
        return [], False
    lines = path.read_bytes().split(b"\n")
    # The text after the last newline is empty for a whole journal, and a torn line otherwise.
    whole, torn = lines[:-1], lines[-1] != b""
    entries: list[JournalEntry] = []
    for number, line in enumerate(whole, start=1):
        entry = _decode_line(line)
        if entry is None:
            if number == len(whole) and not torn:
                torn = True  # the newline made it but not every byte before it: still unacknowledged
                break
            raise JournalCorruptError(f"{path}: line {number} of {len(whole)} is damaged")
        entries.append(entry)
    return entries, torn


def _decode_line(line: bytes) -> JournalEntry | None:
    checksum, _, data = line.partition(b" ")
    try:
        if int(checksum, 16) != zlib.crc32(data):
            return None
        fields = json.loads(data)
        return JournalEntry(target=fields["t"], authorization=fields["a"], body=fields["b"])
    except (ValueError, KeyError, TypeError):
        return None


class Journal:
    """Append-only, with group commit: `write` appends a line, `sync` returns once it is on disk.

    Writes come one at a time (under the emulator's DynamoDB lock), so the file's order is the order the
    writes were applied in. `sync` runs outside that lock: one fsync covers every line written before it
    started, so writers waiting together share one.
    """

    def __init__(self, path: Path) -> None:
        existed = path.exists()
        self._file: BinaryIO = path.open("ab")
        if not existed:
            _sync_directory(path.parent)  # the new file's name must survive a crash too
        self._written = 0
        """Lines written (and flushed to the system) so far."""
        self._synced = 0
        """Lines known to be on disk."""
        self._sync_lock = threading.Lock()

    @property
    def written(self) -> int:
        return self._written

    def write(self, entry: JournalEntry) -> int:
        """Append a line (not yet durable) and return its position for `sync`. One caller at a time."""
        self._file.write(entry.encode())
        self._file.flush()
        self._written += 1
        return self._written

    def sync(self, position: int) -> None:
        """Return once the lines up to `position` are on disk."""
        if self._synced >= position:
            return
        with self._sync_lock:
            if self._synced >= position:
                return  # the fsync of a writer that waited here first covered this line
            covered = self._written  # every line counted was written before this fsync starts
            _sync_data(self._file.fileno())
            self._synced = covered

    def close(self) -> None:
        self.sync(self._written)
        self._file.close()


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int
    """The journal of this generation holds the writes made after this snapshot."""
    settled: bool
    """Every commit in it was handed to notify_stream before it was taken."""
    items: list[dict[str, Any]]
    """The table's items in DynamoDB's JSON (binary base64-encoded), as Scan returns them."""
    keys: list[dict[str, Any]] = field(default_factory=list)
    """The data-subject keys table's items, the same way (absent from snapshots written before it)."""


class DataDir:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._items = path / "table-items.json"
        self._pump = path / "pump-positions.json"
        self._page_key = path / "page-key-secret"

    def page_key_secret(self) -> str:
        """A secret per data dir, so page keys handed out before a restart still verify after it."""
        if not self._page_key.exists():
            write_atomically(self._page_key, secrets.token_hex(32))
        return self._page_key.read_text().strip()

    def has_items(self) -> bool:
        return self._items.exists()

    def load_snapshot(self) -> Snapshot:
        if not self._items.exists():
            return Snapshot(generation=0, settled=True, items=[])
        saved = json.loads(self._items.read_text())
        if isinstance(saved, list):  # written before the journal: taken at a stop, after the pump drained
            return Snapshot(generation=0, settled=True, items=saved)
        return Snapshot(
            generation=saved["generation"],
            settled=saved["settled"],
            items=saved["items"],
            keys=saved.get("keys", []),
        )

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the snapshot, then delete the journals it includes."""
        document = {
            "generation": snapshot.generation,
            "settled": snapshot.settled,
            "items": snapshot.items,
            "keys": snapshot.keys,
        }
        write_atomically(self._items, json.dumps(document))
        for path in self._path.iterdir():
            found = _JOURNAL_NAME.match(path.name)
            if found and int(found.group(1)) < snapshot.generation:
                path.unlink()

    @property
    def objects(self) -> Path:
        """The payload bucket's objects, one file per object (written by emulator.DurableObjects)."""
        return self._path / "objects"

    def journal_path(self, generation: int) -> Path:
        return self._path / f"journal-{generation}.log"

    def save_items(self, clients: Clients, table_name: str) -> int:
        """An external emulator's table, for a restart that finds it gone."""
        items: list[dict[str, Any]] = []
        for page in clients.dynamodb.get_paginator("scan").paginate(
            TableName=table_name, ConsistentRead=True
        ):
            items.extend(encode_item(item) for item in page.get("Items", []))
        write_atomically(self._items, json.dumps(items))
        return len(items)

    def restore_items(self, clients: Clients, table_name: str) -> int:
        items = [decode_item(item) for item in self.load_snapshot().items]
        for start in range(0, len(items), _BATCH_WRITE_LIMIT):
            requests: Any = [
                {"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_LIMIT]
            ]
            while requests:
                response = clients.dynamodb.batch_write_item(RequestItems={table_name: requests})
                requests = response.get("UnprocessedItems", {}).get(table_name, [])
        return len(items)

    def load_positions(self, stream_arn: str) -> dict[str, str]:
        """The pump's positions, if they were saved for this very stream (an external emulator's)."""
        if not self._pump.exists():
            return {}
        saved = json.loads(self._pump.read_text())
        positions: dict[str, str] = saved.get("positions", {}) if saved.get("streamArn") == stream_arn else {}
        return positions

    def save_positions(self, stream_arn: str, positions: dict[str, str]) -> None:
        write_atomically(self._pump, json.dumps({"streamArn": stream_arn, "positions": positions}))


@dataclass(frozen=True, slots=True)
class Recovery:
    restored: int
    replayed: int
    settled: bool


class DurableTable:
    """The built-in emulator's tables in a data dir (the events and the data-subject keys): a snapshot plus
    the journal of every write since (the journal holds every table's writes)."""

    def __init__(
        self, data_dir: DataDir, table_name: str, *, region: str, access_key: str, keys_table: str
    ) -> None:
        self._data_dir = data_dir
        self._table = table_name
        self._keys_table = keys_table
        # moto takes the region and account from the credential scope and checks no signature.
        self._authorization = (
            f"AWS4-HMAC-SHA256 Credential={access_key}/20000101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
        self._generation = 0
        self._journal: Journal | None = None

    def recover(self, emulator: Exclusive) -> Recovery:
        """Restore the snapshot into the (new, empty) table and replay the journal; journal from then on."""
        snapshot = self._data_dir.load_snapshot()
        self._generation = snapshot.generation
        self._put_items(emulator, self._table, snapshot.items)
        self._put_items(emulator, self._keys_table, snapshot.keys)
        journal_path = self._data_dir.journal_path(snapshot.generation)
        entries, torn = read_journal(journal_path)
        if torn:
            log.warning("%s: dropped a torn last line (its write was never acknowledged)", journal_path)
        for number, entry in enumerate(entries, start=1):
            request = entry.body.encode("utf-8", "surrogateescape")
            status, body = emulator.request(entry.target, request, entry.authorization)
            if status != 200:  # noqa: PLR2004 - HTTP OK
                # It succeeded the first time on the same state: only a request for another table (not kept
                # in the snapshot) can fail here.
                log.warning("journal entry %d (%s) failed on replay: %s", number, entry.target, body[:300])
        settled = snapshot.settled and not entries
        if entries or torn:
            self._compact(emulator, settled=settled)
        else:
            self._attach(emulator, Journal(journal_path))
        return Recovery(restored=len(snapshot.items), replayed=len(entries), settled=settled)

    def checkpoint(self, emulator: Exclusive, *, settled: bool) -> int:
        """A new snapshot and an empty journal (at stop: `settled` when the pump drained the stream)."""
        return self._compact(emulator, settled=settled)

    def _compact(self, emulator: Exclusive, *, settled: bool) -> int:
        items, keys = self._scan(emulator, self._table), self._scan(emulator, self._keys_table)
        generation = self._generation + 1
        journal_path = self._data_dir.journal_path(generation)
        journal_path.unlink(missing_ok=True)  # left by a crash before its snapshot was saved: never used
        journal = Journal(journal_path)
        # The snapshot is written before the older journal goes: a crash in between replays nothing twice,
        # since the snapshot names the generation whose journal follows it.
        self._data_dir.save_snapshot(Snapshot(generation=generation, settled=settled, items=items, keys=keys))
        self._generation = generation
        self._attach(emulator, journal)
        return len(items)

    def _attach(self, emulator: Exclusive, journal: Journal) -> None:
        emulator.journal_to(journal)
        if self._journal is not None:
            self._journal.close()
        self._journal = journal

    def _scan(self, emulator: Exclusive, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = self._call(emulator, "Scan", request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _put_items(self, emulator: Exclusive, table: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), _BATCH_WRITE_LIMIT):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_LIMIT]]
            while requests:
                response = self._call(emulator, "BatchWriteItem", {"RequestItems": {table: requests}})
                requests = response.get("UnprocessedItems", {}).get(table, [])

    def _call(self, emulator: Exclusive, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        target = f"DynamoDB_20120810.{operation}"
        status, body = emulator.request(target, json.dumps(request).encode(), self._authorization)
        if status != 200:  # noqa: PLR2004 - HTTP OK
            raise RuntimeError(f"{operation} on {self._table} failed: {status} {body[:300]!r}")
        response: dict[str, Any] = json.loads(body)
        return response


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    _sync_directory(path.parent)


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """The file whole or not at all, on disk when this returns (its directories too, when new)."""
    new_directory = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    _sync_directory(path.parent)
    if new_directory:
        _sync_directory(path.parent.parent)


# The file's data (and its length), without its timestamps where the system can do that (not macOS).
_sync_data = getattr(os, "fdatasync", os.fsync)


def _sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
