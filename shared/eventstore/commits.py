"""The commit codec: one append as stored (a DynamoDB item), its content digest and its size.

Shared by every store and by notify_stream, which decodes the commits of the table's stream records.

A payload is stored in one of three forms, told apart by the attribute that holds it:
`data` (S): its JSON text (every item before compression, and payloads zlib does not shrink);
`dataZ` (B): its JSON text compressed with zlib, when that makes the item smaller;
`sealed` (B) with `subj` (S): a data subject's payload, encrypted by eventstore.erasure; the plaintext
inside is `pack_payload`'s (a form byte, then the JSON text, compressed the same way first);
`ref` (M: `key`, `size`, `sha256`): a payload too large for the item, stored as an object
(eventstore.payloads, docs/design.md "Large payloads"): `pack_payload`'s bytes, or with `subj` the sealed
bytes exactly as `sealed` would hold them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eventstore.domain import Caller, PayloadRef, PayloadTooLarge, RecordedEvent, StreamState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from eventstore.appends import NewEvent

MAX_ITEM_BYTES: Final = 400 * 1024
"""DynamoDB's item size limit: one append is one item."""

OFFLOAD_BYTES: Final = 64 * 1024
"""A payload whose stored form is larger goes to the payload bucket (docs/design.md, "Large payloads"):
inline it would cost 64+ write units per append (13x an S3 PUT's price) and as many read units per read,
and fewer commits would fit one 1 MB Query page."""

OFFLOADED_ITEM_BYTES: Final = 256 * 1024
"""Payloads are offloaded, largest first, until the commit item is at most this large: well inside the
400 KB limit (emulators count binary values as base64, a third larger) and at most 256 write units."""

_ZLIB_LEVEL: Final = 6
"""zlib's default: within a few percent of level 9 on JSON at a fraction of its CPU."""
_PLAIN: Final = b"\x00"
_ZLIB: Final = b"\x01"

type Item = dict[str, AttributeValueTypeDef]


@dataclass(frozen=True, slots=True)
class Offloaded:
    """A commit item whose large payloads were replaced by references, and the objects they name."""

    item: Item
    objects: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Commit:
    """One append: the item as stored, decoded."""

    stream_id: str
    stream_type: str
    first_revision: int
    last_revision: int
    committed_at: str
    digest: str
    events: tuple[RecordedEvent, ...]

    @property
    def event_ids(self) -> frozenset[str]:
        return frozenset(e.event_id for e in self.events)

    def state(self) -> StreamState:
        return StreamState(self.stream_id, self.stream_type, self.last_revision, self.committed_at)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_digest(events: Sequence[NewEvent], fingerprints: Sequence[str | None] = ()) -> str:
    """What identifies a request's events for idempotent retries: ids, types, payloads, client metadata.

    A data subject's payload is represented by its fingerprint (a hash keyed with the subject's key,
    eventstore.erasure), so the digest stored beside the ciphertext says nothing about the payload once
    the key is gone, and by the subject (an event without one is a 4-element entry, as before)."""
    marks = list(fingerprints) or [None] * len(events)
    canonical = json.dumps(
        [
            [e.event_id, e.event_type, e.payload, e.metadata]
            if mark is None
            else [e.event_id, e.event_type, mark, e.metadata, e.data_subject]
            for e, mark in zip(events, marks, strict=True)
        ],
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _recorded_metadata(metadata: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
    """The client's metadata with who appended (principal, request id) recorded over it."""
    recorded_by = {
        key: value
        for key, value in (("principal", caller.principal), ("requestId", caller.request_id))
        if value is not None
    }
    return {**metadata, **recorded_by}


def encode_commit(
    stream_type: str,
    stream_id: str,
    first_revision: int,
    events: Sequence[NewEvent],
    *,
    committed_at: str,
    digest: str,
    caller: Caller,
    sealed: Sequence[bytes | None] = (),
) -> Item:
    """A commit item (what decode_commit reads back); the DynamoDB store adds its listing-index entry.

    `sealed` holds, per event, its encrypted payload (events with a data subject) or None."""
    return {
        "streamId": {"S": stream_id},
        "revision": {"N": str(first_revision)},
        "streamType": {"S": stream_type},
        "lastRevision": {"N": str(first_revision + len(events) - 1)},
        "committedAt": {"S": committed_at},
        "digest": {"S": digest},
        "events": {"L": _encode_events(events, caller, list(sealed) or [None] * len(events))},
    }


def _encode_events(
    events: Sequence[NewEvent], caller: Caller, sealed: Sequence[bytes | None]
) -> list[AttributeValueTypeDef]:
    encoded: list[AttributeValueTypeDef] = []
    for event, ciphertext in zip(events, sealed, strict=True):
        entry: dict[str, AttributeValueTypeDef] = {
            "id": {"S": event.event_id},
            "type": {"S": event.event_type},
        }
        if event.data_subject is None:
            entry.update(_stored_payload(event.payload))
        elif ciphertext is None:
            raise ValueError(f"event {event.event_id} names a data subject but was not sealed")
        else:
            entry.update({"subj": {"S": event.data_subject}, "sealed": {"B": ciphertext}})
        entry["meta"] = {"S": _json_text(_recorded_metadata(event.metadata, caller))}
        encoded.append({"M": entry})
    return encoded


def _stored_payload(payload: Any) -> dict[str, AttributeValueTypeDef]:
    text = _json_text(payload).encode()
    packed = zlib.compress(text, _ZLIB_LEVEL)
    # `dataZ` is one byte longer a name than `data`: compress only when the item gets smaller.
    if len(packed) + 1 < len(text):
        return {"dataZ": {"B": packed}}
    return {"data": {"S": text.decode()}}


def pack_payload(payload: Any) -> bytes:
    """A payload as the plaintext eventstore.erasure encrypts: a form byte, then its JSON text (compressed
    when that is shorter; ciphertext does not compress, so it must happen before encryption)."""
    text = _json_text(payload).encode()
    packed = zlib.compress(text, _ZLIB_LEVEL)
    return _ZLIB + packed if len(packed) < len(text) else _PLAIN + text


def unpack_payload(plaintext: bytes) -> Any:
    form, body = plaintext[:1], plaintext[1:]
    if form == _ZLIB:
        return json.loads(zlib.decompress(body))
    if form == _PLAIN:
        return json.loads(body)
    raise ValueError(f"unknown payload form {form!r}")


def check_size(item: Item) -> None:
    """Refuse an append whose commit item would not fit DynamoDB's item size limit."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise PayloadTooLarge(
            f"the events take {size} bytes once stored; one append holds at most {MAX_ITEM_BYTES} bytes"
        )


def item_size(item: Item) -> int:
    """An upper bound of DynamoDB's size of an item (names + values; numbers and containers rounded up)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: AttributeValueTypeDef) -> int:
    if "S" in value:
        return len(value["S"].encode())
    if "N" in value:
        return len(value["N"]) // 2 + 2
    if "B" in value:
        return len(_binary(value["B"]))
    if "L" in value:
        return 3 + sum(1 + _value_size(v) for v in value["L"])
    if "M" in value:
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in value["M"].items())
    return 1


def decode_commit(item: Any) -> Commit:
    """Decode a commit item (from a Query, a GetItem, ALL_OLD or a stream record's NewImage)."""
    stream_id = item["streamId"]["S"]
    first = int(item["revision"]["N"])
    committed_at = item["committedAt"]["S"]
    events = tuple(
        _decode_event(entry["M"], stream_id, first + offset, committed_at)
        for offset, entry in enumerate(item["events"]["L"])
    )
    return Commit(
        stream_id=stream_id,
        stream_type=item["streamType"]["S"],
        first_revision=first,
        last_revision=int(item["lastRevision"]["N"]),
        committed_at=committed_at,
        digest=item["digest"]["S"],
        events=events,
    )


def _decode_event(entry: Any, stream_id: str, revision: int, committed_at: str) -> RecordedEvent:
    """One event; a sealed payload stays sealed (None) until eventstore.erasure.open_commit opens it, an
    offloaded one stays a reference until eventstore.payloads loads it."""
    payload, subject, sealed, ref, text = None, None, None, None, None
    if "ref" in entry:
        subject = entry["subj"]["S"] if "subj" in entry else None
        ref = _decode_ref(entry["ref"]["M"])
    elif "sealed" in entry:
        subject, sealed = entry["subj"]["S"], _binary(entry["sealed"]["B"])
    elif "dataZ" in entry:
        text = zlib.decompress(_binary(entry["dataZ"]["B"]))
        payload = json.loads(text)
    else:
        text = entry["data"]["S"].encode()
        payload = json.loads(text)
    meta = entry["meta"]["S"]
    return RecordedEvent(
        stream_id=stream_id,
        revision=revision,
        event_id=entry["id"]["S"],
        event_type=entry["type"]["S"],
        payload=payload,
        metadata=json.loads(meta),
        created_at=committed_at,
        data_subject=subject,
        sealed=sealed,
        stored_ref=ref,
        text_bytes=None if text is None else escaped_size(text) + escaped_size(meta.encode()),
    )


def escaped_size(text: bytes) -> int:
    """The size of compact JSON text (as stored and as rendered: no raw control characters) once escaped
    as a JSON string, without its quotes: each quote and backslash takes two bytes."""
    return len(text) + text.count(b'"') + text.count(b"\\")


def _decode_ref(ref: Any) -> PayloadRef:
    return PayloadRef(ref["key"]["S"], int(ref["size"]["N"]), ref["sha256"]["S"])


def object_key(stream_id: str, stored: bytes) -> str:
    """Content-addressed under the stream's prefix: a retried append writes the same key, and deleting a
    stream deletes its objects by prefix."""
    return f"{stream_id}/{hashlib.sha256(stored).hexdigest()}"


def offload(item: Item, threshold: int = OFFLOAD_BYTES, max_item: int = OFFLOADED_ITEM_BYTES) -> Offloaded:
    """Move payloads out of a commit item: every one whose stored form is larger than `threshold`, then the
    largest left until the item fits `max_item` (many medium payloads). Each becomes a `ref` to the bytes
    an object must hold; sealed payloads move sealed (erasure covers the copies)."""
    stream_id = item["streamId"]["S"]
    entries = [dict(event["M"]) for event in item["events"]["L"]]
    sizes = [_payload_size(entry) for entry in entries]
    order = sorted(range(len(entries)), key=lambda index: -sizes[index])
    size = item_size(item)
    objects: list[tuple[str, bytes]] = []
    for index in order:
        if sizes[index] == 0 or (sizes[index] <= threshold and size <= max_item):
            break
        entry = entries[index]
        stored = _stored_bytes(entry)
        key = object_key(stream_id, stored)
        for name in ("data", "dataZ", "sealed"):
            entry.pop(name, None)
        entry["ref"] = {
            "M": {
                "key": {"S": key},
                "size": {"N": str(len(stored))},
                "sha256": {"S": key.rpartition("/")[2]},
            }
        }
        size += len("ref") + _value_size(entry["ref"]) - sizes[index]
        objects.append((key, stored))
    if not objects:
        return Offloaded(item, ())
    events: list[AttributeValueTypeDef] = [{"M": entry} for entry in entries]
    return Offloaded({**item, "events": {"L": events}}, tuple(objects))


def _payload_size(entry: Mapping[str, AttributeValueTypeDef]) -> int:
    return sum(len(name) + _value_size(entry[name]) for name in ("data", "dataZ", "sealed") if name in entry)


def _stored_bytes(entry: Mapping[str, Any]) -> bytes:
    """An inline payload as an object holds it: sealed bytes as they are, else pack_payload's form."""
    if "sealed" in entry:
        return _binary(entry["sealed"]["B"])
    if "dataZ" in entry:
        return _ZLIB + _binary(entry["dataZ"]["B"])
    return _PLAIN + str(entry["data"]["S"]).encode()


def _binary(value: bytes | str) -> bytes:
    """Binary values are bytes from the SDK and base64 text in Lambda's stream records."""
    return value if isinstance(value, bytes) else base64.b64decode(value)


def is_commit_key(keys: Any, image: Any) -> bool:
    """Commits start at revision 1 and carry a digest; the summary (0), the listing marker (-1), feed items
    and checkpoints are not commits."""
    return int(keys["revision"]["N"]) >= 1 and "S" in image["digest"]
