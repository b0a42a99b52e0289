"""The snapshot codec: a stream's snapshot as stored, one item at revision -3 beside its commits
(docs/design.md, "Snapshots"). Shared by every store.

The item has no `digest` and no listing keys, so the event source mapping's filter, the feed writer and
the listing index never see it. The state is stored as `state` (B: commits.pack_payload, a form byte and
the JSON text, zlib-compressed when shorter) or, for a data subject, as `subj` + `sealed` (B: the packed
state encrypted by eventstore.erasure, bound to the stream and revision).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eventstore import commits
from eventstore.commits import MAX_ITEM_BYTES, Item, item_size
from eventstore.domain import JsonValue, SnapshotTooLarge
from eventstore.erasure import KeysNotConfigured
from eventstore.table import SNAPSHOT_REVISION

if TYPE_CHECKING:
    from eventstore.erasure import Keyring

MAX_SNAPSHOT_BYTES: Final = MAX_ITEM_BYTES
"""A snapshot is one item: its state, compressed (and encrypted), with its other fields, fits in 400 KB."""


@dataclass(frozen=True, slots=True)
class NewSnapshot:
    """A client's folded state of a stream as of `revision` (docs/design.md, "Snapshots")."""

    revision: int
    snapshot_type: str
    """The state's shape, named by the client: a loader ignores a snapshot of another type."""

    state: JsonValue
    data_subject: str | None = None
    """The person the state is about: stored encrypted under that subject's key, erased with it."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    stream_id: str
    stream_type: str
    revision: int
    snapshot_type: str
    state: JsonValue
    created_at: str
    data_subject: str | None = None
    state_erased: bool = False
    """The subject's key is destroyed: `state` is None for good."""

    sealed: bytes | None = None
    """The state as stored (encrypted) while no keyring has opened it."""


@dataclass(frozen=True, slots=True)
class SnapshotWritten:
    snapshot: Snapshot
    """As stored (its state is the one sent)."""

    replayed: bool
    """True when this snapshot was stored already (same revision, type, subject and state)."""


def seal(stream_id: str, snapshot: NewSnapshot, keyring: Keyring | None) -> tuple[bytes | None, str]:
    """The state sealed for its subject (None without one) and the snapshot's digest (idempotent retries).

    A subject's state enters the digest as its keyed fingerprint, as an event's payload does: the digest
    says nothing about the state once the key is gone."""
    if snapshot.data_subject is None:
        return None, _digest([snapshot.snapshot_type, None, snapshot.state])
    if keyring is None:
        raise KeysNotConfigured(
            f"stream {stream_id}: the snapshot names a data subject but there are no keys"
        )
    sealed, fingerprint = keyring.seal_state(
        stream_id, snapshot.revision, snapshot.data_subject, snapshot.state
    )
    return sealed, _digest([snapshot.snapshot_type, snapshot.data_subject, fingerprint])


def _digest(content: list[Any]) -> str:
    canonical = json.dumps(
        content, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def encode_snapshot(
    stream_type: str,
    stream_id: str,
    snapshot: NewSnapshot,
    *,
    created_at: str,
    digest: str,
    sealed: bytes | None,
) -> Item:
    """The snapshot item; SnapshotTooLarge when it would not fit one item."""
    item: Item = {
        "streamId": {"S": stream_id},
        "revision": {"N": str(SNAPSHOT_REVISION)},
        "streamType": {"S": stream_type},
        "snapshotRevision": {"N": str(snapshot.revision)},
        "snapshotType": {"S": snapshot.snapshot_type},
        "stateDigest": {"S": digest},
        "createdAt": {"S": created_at},
    }
    if snapshot.data_subject is None:
        item["state"] = {"B": commits.pack_payload(snapshot.state)}
    elif sealed is None:
        raise ValueError(f"stream {stream_id}: the snapshot names a data subject but was not sealed")
    else:
        item |= {"subj": {"S": snapshot.data_subject}, "sealed": {"B": sealed}}
    size = item_size(item)
    if size > MAX_SNAPSHOT_BYTES:
        raise SnapshotTooLarge(
            f"the snapshot takes {size} bytes once stored (compressed); a snapshot holds at most "
            f"{MAX_SNAPSHOT_BYTES} bytes (one DynamoDB item)"
        )
    return item


def decode_snapshot(item: Any) -> Snapshot:
    """A snapshot item (from GetItem); a sealed state stays sealed (None) until Keyring.open_snapshot."""
    state, subject, sealed = None, None, None
    if "sealed" in item:
        subject, sealed = item["subj"]["S"], bytes(item["sealed"]["B"])
    else:
        state = commits.unpack_payload(bytes(item["state"]["B"]))
    return Snapshot(
        stream_id=item["streamId"]["S"],
        stream_type=item["streamType"]["S"],
        revision=int(item["snapshotRevision"]["N"]),
        snapshot_type=item["snapshotType"]["S"],
        state=state,
        created_at=item["createdAt"]["S"],
        data_subject=subject,
        sealed=sealed,
    )


def as_written(stream_type: str, stream_id: str, snapshot: NewSnapshot, created_at: str) -> Snapshot:
    """The snapshot a put stored, as the put returns it (its state the one sent)."""
    return Snapshot(
        stream_id=stream_id,
        stream_type=stream_type,
        revision=snapshot.revision,
        snapshot_type=snapshot.snapshot_type,
        state=snapshot.state,
        created_at=created_at,
        data_subject=snapshot.data_subject,
    )


def stored_revision(item: Any) -> int:
    return int(item["snapshotRevision"]["N"])


def stored_digest(item: Any) -> str:
    return str(item["stateDigest"]["S"])
