"""Stream lifecycle on the table: deletion markers in the head slot, and the control item (revision -2) that
holds a stream's metadata, deletion floor and tombstone (docs/design.md, "Lifecycle")."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from eventstore.commits import Commit
from eventstore.domain import MetadataConflict, ServiceUnavailable, StreamDeleted, WrongExpectedRevision
from eventstore.dynamodb.access import Table, condition_failed, decode_head, dynamodb_errors, live
from eventstore.lifecycle import (
    DELETED,
    TOMBSTONE,
    DeleteMode,
    LifecycleMarker,
    StreamControl,
    StreamMetadata,
    decode_control,
    encode_marker,
    new_marker,
)
from eventstore.table import CONTROL_REVISION, SNAPSHOT_REVISION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

DELETE_ATTEMPTS: Final = 5
"""A delete without an expected revision retries a slot lost to an append this often (then 503)."""
_METADATA_FIELDS: Final = (
    ("maxCount", "max_count"),
    ("maxAgeSeconds", "max_age_seconds"),
    ("truncateBefore", "truncate_before"),
)


class StreamLifecycle:
    """delete, the control item and stream metadata on one table."""

    def __init__(self, table: Table, clock: Callable[[], datetime]) -> None:
        self._table = table
        self._clock = clock
        self._jitter = random.SystemRandom()

    # Deletion

    def delete(self, stream_type: str, stream_id: str, expected: int | None, mode: DeleteMode) -> None:
        """Take the head slot with a marker (or turn a soft delete's marker into a tombstone), then set the
        control item. An append racing for the same slot either wins (this delete is refused with 409 when
        it named a revision, else retried on the new head) or loses: nothing is ever half done."""
        for attempt in range(DELETE_ATTEMPTS):
            if attempt:
                time.sleep(self._jitter.uniform(0, 0.01 * 2**attempt))
            head = self._table.head(stream_type, stream_id)
            if _done(head, mode, expected):
                return  # a repeated delete writes nothing
            marker = new_marker(stream_id, stream_type, mode, head.last_revision, self._clock())
            winner = self._put_marker(marker, head if isinstance(head, LifecycleMarker) else None)
            if winner is None:
                self.complete_deletion(marker)
                self._drop_snapshot(stream_id)
                return
            if isinstance(winner, Commit) and expected is not None:
                raise WrongExpectedRevision(expected, winner.last_revision)
            # An append took the slot (no revision was named: delete the new head), or another delete
            # did: the next round finds it done, or turns its soft delete into this tombstone.
        raise ServiceUnavailable("the stream is too busy: the delete kept losing its slot to appends; retry")

    def _put_marker(
        self, marker: LifecycleMarker, replacing: LifecycleMarker | None
    ) -> Commit | LifecycleMarker | None:
        """Put the marker at the head slot unless taken (or replacing a soft delete's marker unless it
        changed); what holds the slot when the put was refused."""
        request: Any = {
            "TableName": self._table.name,
            "Item": encode_marker(marker),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "ConditionExpression": "attribute_not_exists(#rev)",
            "ExpressionAttributeNames": {"#rev": self._table.layout.range_key},
        }
        if replacing is not None:
            request["ConditionExpression"] = "#kind = :deleted AND writeId = :marker"
            request["ExpressionAttributeNames"] = {"#kind": "kind"}
            request["ExpressionAttributeValues"] = {
                ":deleted": {"S": DELETED},
                ":marker": {"S": replacing.write_id},
            }
        try:
            with dynamodb_errors():
                self._table.client.put_item(**request)
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old: Any = exc.response.get("Item") or self._table.get_item(marker.stream_id, marker.key)
            if old is None:
                raise ServiceUnavailable("the stream's head changed while deleting it; retry") from exc
            if old.get("writeId") != {"S": marker.write_id}:
                return decode_head(old)
        return None

    def complete_deletion(self, marker: LifecycleMarker) -> None:
        """Record the marker on the control item (idempotent: the deleter does it before answering, and
        notify_stream again from the marker's stream record, for a deleter killed in between)."""
        now: AttributeValueTypeDef = {"S": marker.deleted_at}
        kind: AttributeValueTypeDef = {"S": marker.stream_type}
        if marker.kind == TOMBSTONE:
            self._update_control(
                marker.stream_id,
                "SET tombstonedAt = if_not_exists(tombstonedAt, :at), streamType = :type",
                None,
                {":at": now, ":type": kind},
            )
            return
        try:
            self._update_control(
                marker.stream_id,
                "SET deletedBefore = :floor, deletedAt = :at, streamType = :type",
                "attribute_not_exists(deletedBefore) OR deletedBefore < :floor",
                {":floor": {"N": str(marker.key)}, ":at": now, ":type": kind},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise  # a failed condition: this deletion (or a later one) is recorded already

    def _drop_snapshot(self, stream_id: str) -> None:
        """A snapshot goes with its stream (one DeleteItem; physical removal catches a deleter killed first),
        so a restarted stream never loads a state folded from events it no longer shows."""
        with dynamodb_errors():
            self._table.client.delete_item(
                TableName=self._table.name, Key=self._table.key(stream_id, SNAPSHOT_REVISION)
            )

    # The control item and metadata

    def control(self, stream_id: str) -> StreamControl:
        return decode_control(self._table.get_item(stream_id, CONTROL_REVISION))

    def get_metadata(self, stream_type: str, stream_id: str) -> StreamMetadata:
        live(self._table.head(stream_type, stream_id))
        return self.control(stream_id).metadata

    def set_metadata(
        self, stream_type: str, stream_id: str, metadata: StreamMetadata, expected: int | None
    ) -> StreamMetadata:
        """Replace the three bounds (None removes one) and count the write; compare-and-set on the metadata
        revision when `expected` is given (0: never written)."""
        live(self._table.head(stream_type, stream_id))
        values: dict[str, AttributeValueTypeDef] = {
            ":type": {"S": stream_type},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        sets = ["streamType = :type", "metadataRevision = if_not_exists(metadataRevision, :zero) + :one"]
        removes = []
        for name, attribute in _METADATA_FIELDS:
            value = getattr(metadata, attribute)
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = {"N": str(value)}
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = None
        if expected is not None:
            condition = (
                "attribute_not_exists(metadataRevision)" if expected == 0 else "metadataRevision = :expected"
            )
            if expected:
                values[":expected"] = {"N": str(expected)}
        try:
            item = self._update_control(stream_id, update, condition, values)
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            current = decode_control(
                exc.response.get("Item") or self._table.get_item(stream_id, CONTROL_REVISION)
            )
            raise MetadataConflict(expected or 0, current.metadata.revision) from exc
        return decode_control(item).metadata

    def _update_control(
        self,
        stream_id: str,
        update: str,
        condition: str | None,
        values: dict[str, AttributeValueTypeDef],
    ) -> Any:
        # No listing-index key and no digest: the control item is never listed, fed or notified. Every
        # change can hide events, so it marks the stream due for physical removal (the sparse
        # dueForRemoval index; removal clears the mark once nothing more can fall due).
        assert update.startswith("SET ")
        from eventstore.retention import sweep_shard  # noqa: PLC0415 - removal's rules: not at every init

        request: Any = {
            "TableName": self._table.name,
            "Key": self._table.key(stream_id, CONTROL_REVISION),
            "UpdateExpression": "SET sweepShard = :sweep, " + update.removeprefix("SET "),
            "ExpressionAttributeValues": {**values, ":sweep": {"S": sweep_shard(stream_id)}},
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        with dynamodb_errors():
            return self._table.client.update_item(**request).get("Attributes")


def _done(head: Commit | LifecycleMarker, mode: DeleteMode, expected: int | None) -> bool:
    """Whether the stream is deleted as hard as asked already; the errors of a delete that cannot be."""
    if isinstance(head, LifecycleMarker) and head.kind == TOMBSTONE:
        if mode == "tombstone":
            return True
        raise StreamDeleted(head.stream_type, head.stream_id)
    if expected is not None and expected != head.last_revision:
        deleted = isinstance(head, LifecycleMarker)
        raise WrongExpectedRevision(expected, head.last_revision, deleted=deleted)
    return isinstance(head, LifecycleMarker) and mode == "soft"
