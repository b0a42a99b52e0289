"""Snapshots on the events table: one item per stream at revision -3, replaced only by a newer one
(docs/design.md, "Snapshots"). Every request names the attributes it reads, so the snapshots function's
IAM policy can allow it the snapshot's attributes and a commit's revision fields, never an event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from eventstore import timefmt
from eventstore.domain import (
    ServiceUnavailable,
    SnapshotBeyondStream,
    SnapshotConflict,
    SnapshotNotFound,
    StreamDeleted,
    StreamNotFound,
)
from eventstore.dynamodb.access import MAX_REVISION, Table, condition_failed, dynamodb_errors
from eventstore.erasure import Keyring, KeysNotConfigured
from eventstore.lifecycle import TOMBSTONE
from eventstore.snapshots import (
    NewSnapshot,
    Snapshot,
    SnapshotWritten,
    as_written,
    decode_snapshot,
    encode_snapshot,
    seal,
    stored_digest,
    stored_revision,
)
from eventstore.table import SNAPSHOT_REVISION, layout


@dataclass(frozen=True, slots=True)
class SnapshotLayout:
    attributes: tuple[str, ...]
    """Every attribute a snapshot item may hold (the snapshots function's IAM policy allows no other)."""
    commit_attributes: tuple[str, ...]
    """What the snapshots function may read of a commit: its key, stream type and last revision."""


@cache
def snapshot_layout() -> SnapshotLayout:
    definition: dict[str, Any] = layout().definition["snapshots"]
    if int(definition["revision"]) != SNAPSHOT_REVISION:
        raise ValueError("table.json's snapshot revision differs from eventstore.table.SNAPSHOT_REVISION")
    return SnapshotLayout(
        attributes=tuple(definition["attributes"]), commit_attributes=tuple(definition["commit_attributes"])
    )


class TableSnapshots:
    def __init__(self, table: Table, keyring: Keyring | None, clock: Callable[[], datetime]) -> None:
        self._table = table
        self._keyring = keyring
        self._clock = clock
        attributes = snapshot_layout()
        self._attributes = attributes.attributes
        self._commit_attributes = attributes.commit_attributes

    def put(self, stream_type: str, stream_id: str, snapshot: NewSnapshot) -> SnapshotWritten:
        current = self._stream_revision(stream_type, stream_id)
        if snapshot.revision > current:
            raise SnapshotBeyondStream(snapshot.revision, current)
        sealed, digest = seal(stream_id, snapshot, self._keyring)
        created_at = timefmt.format_instant(self._clock())
        item = encode_snapshot(
            stream_type, stream_id, snapshot, created_at=created_at, digest=digest, sealed=sealed
        )
        written = as_written(stream_type, stream_id, snapshot, created_at)
        if self._put_if_newer(item, snapshot.revision):
            return SnapshotWritten(written, replayed=False)
        stored = self._get(stream_id, consistent=True)
        if stored is None:
            # Deleted (with its stream) since the failed condition: a retry finds out what stands.
            raise ServiceUnavailable("the stream's snapshot was removed while this one was written; retry")
        if stored_revision(stored) == snapshot.revision and stored_digest(stored) == digest:
            return SnapshotWritten(replace(written, created_at=stored["createdAt"]["S"]), replayed=True)
        raise SnapshotConflict(snapshot.revision, stored_revision(stored))

    def get(self, stream_type: str, stream_id: str) -> Snapshot:
        # Eventually consistent (half the read units): a snapshot a moment old is still a snapshot of the
        # stream, and a load reads the events after whichever one it gets.
        item = self._get(stream_id, consistent=False)
        if item is None or item["streamType"]["S"] != stream_type:
            raise SnapshotNotFound(stream_type, stream_id)
        snapshot = decode_snapshot(item)
        if snapshot.sealed is None:
            return snapshot
        if self._keyring is None:
            raise KeysNotConfigured("this function has no data-subject keys (EVENTSTORE_KEYS_TABLE_NAME)")
        return self._keyring.open_snapshot(snapshot)

    def _stream_revision(self, stream_type: str, stream_id: str) -> int:
        """The stream's revision from its newest commit, reading only its key, type and last revision."""
        names = _names(self._commit_attributes)
        placeholder = {name: key for key, name in names.items()}
        stream, revision = placeholder[self._table.layout.hash_key], placeholder[self._table.layout.range_key]
        response = self._table.query(
            {
                "TableName": self._table.name,
                "KeyConditionExpression": f"{stream} = :id AND {revision} BETWEEN :low AND :high",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {
                    ":id": {"S": stream_id},
                    ":low": {"N": "1"},
                    ":high": {"N": str(MAX_REVISION)},
                },
                "ProjectionExpression": _projection(self._commit_attributes),
                "ScanIndexForward": False,
                "ConsistentRead": True,
                "Limit": 1,
            }
        )
        items = response.get("Items", [])
        if not items or items[0]["streamType"]["S"] != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        # A lifecycle marker at the head: the stream is deleted (a snapshot of it could outlive it).
        kind = items[0].get("kind", {}).get("S")
        if kind == TOMBSTONE:
            raise StreamDeleted(stream_type, stream_id)
        if kind is not None:
            raise StreamNotFound(stream_type, stream_id)
        return int(items[0]["lastRevision"]["N"])

    def _put_if_newer(self, item: Any, revision: int) -> bool:
        """PutItem unless the stream's snapshot is at `revision` or newer; whether it was written."""
        try:
            with dynamodb_errors():
                self._table.client.put_item(
                    TableName=self._table.name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#rev) OR #snap < :revision",
                    ExpressionAttributeNames={
                        "#rev": self._table.layout.range_key,
                        "#snap": "snapshotRevision",
                    },
                    ExpressionAttributeValues={":revision": {"N": str(revision)}},
                )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _get(self, stream_id: str, *, consistent: bool) -> Any:
        with dynamodb_errors():
            response = self._table.client.get_item(
                TableName=self._table.name,
                Key=self._table.key(stream_id, SNAPSHOT_REVISION),
                ConsistentRead=consistent,
                ProjectionExpression=_projection(self._attributes),
                ExpressionAttributeNames=_names(self._attributes),
            )
        return response.get("Item")


def _names(attributes: tuple[str, ...]) -> dict[str, str]:
    return {f"#a{index}": name for index, name in enumerate(attributes)}


def _projection(attributes: tuple[str, ...]) -> str:
    return ", ".join(f"#a{index}" for index in range(len(attributes)))
