"""`eventstore archive read`: a stream's archived events, each object checked against its manifest.

The layout is the store's (shared/eventstore/archive.py): `streams/<streamId>/manifest.json` lists the
stream's span objects (`…/<first>-<last>.jsonl.gz`) with each object's SHA-256. Events are archived as
stored: a data subject's payload stays sealed (`dataSubject` + base64 `sealed`). With the keys table
(`--keys-table`) and KMS, a sealed payload is opened as the store's reads open it: the subject's wrapped
data key from the keys table, unwrapped by KMS under the subject's encryption context, then AES-256-GCM
bound to the stream, event and subject. A subject whose key is gone (erased) reads as `data: null,
dataErased: true`; without `--keys-table` sealed payloads are printed as they are, `dataSealed: true`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import ClientError

_PREFIX: Final = "streams"
_NONCE_BYTES: Final = 12
_CONTEXT_KEY: Final = "eventstore:dataSubject"


class ArchiveIntegrityError(ValueError):
    """An archive object's SHA-256 is not the one its manifest recorded (or the manifest names none)."""


class ArchiveNotFound(LookupError):
    """The bucket holds no manifest for the stream (never archived)."""


def manifest_key(stream_id: str) -> str:
    return f"{_PREFIX}/{stream_id}/manifest.json"


def read_manifest(s3: Any, bucket: str, stream_id: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest_key(stream_id))["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"NoSuchKey", "404"}:
            raise ArchiveNotFound(f"no archive of stream {stream_id} in s3://{bucket}") from exc
        raise
    manifest: dict[str, Any] = json.loads(body)
    return manifest


def read_span(s3: Any, bucket: str, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One span object's events, after checking its SHA-256 against the manifest's entry."""
    body = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    if digest != entry["sha256"]:
        raise ArchiveIntegrityError(
            f"s3://{bucket}/{entry['key']} has SHA-256 {digest}, the manifest says {entry['sha256']}"
        )
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def read_stream(
    s3: Any, bucket: str, stream_id: str, span_key: str | None = None
) -> Iterator[dict[str, Any]]:
    """The stream's archived events in revision order, each once (a run killed between archiving and
    deleting archives the rest of a span again, so spans may overlap); `span_key`: that span only."""
    manifest = read_manifest(s3, bucket, stream_id)
    spans = [entry for entry in manifest["spans"] if span_key is None or entry["key"] == span_key]
    if span_key is not None and not spans:
        raise ArchiveIntegrityError(f"the manifest of stream {stream_id} names no span {span_key}")
    events: dict[int, dict[str, Any]] = {}
    for entry in spans:
        for event in read_span(s3, bucket, entry):
            events.setdefault(event["revision"], event)
    for revision in sorted(events):
        yield events[revision]


@dataclass
class PayloadOpener:
    """Opens sealed payloads with the keys table and KMS, as the store's reads do; keys cached per run."""

    dynamodb: Any
    kms: Any
    keys_table: str
    _keys: dict[str, bytes | None] = field(default_factory=dict)

    def open(self, event: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in event:
            return event
        subject = event["dataSubject"]
        key = self._key(subject)
        opened = {name: value for name, value in event.items() if name != "sealed"}
        if key is None:
            return opened | {"data": None, "dataErased": True}
        sealed = base64.b64decode(event["sealed"])
        associated = f"{event['streamId']}\n{event['eventId']}\n{subject}".encode()
        plaintext = _aesgcm(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)
        return opened | {"data": _unpack(plaintext)}

    def _key(self, subject: str) -> bytes | None:
        if subject not in self._keys:
            item = self.dynamodb.get_item(
                TableName=self.keys_table, Key={"dataSubject": {"S": subject}}, ConsistentRead=True
            ).get("Item")
            wrapped = item.get("wrappedKey") if item else None
            self._keys[subject] = (
                self.kms.decrypt(CiphertextBlob=wrapped["B"], EncryptionContext={_CONTEXT_KEY: subject})[
                    "Plaintext"
                ]
                if wrapped
                else None
            )
        return self._keys[subject]


def mark_sealed(event: dict[str, Any]) -> dict[str, Any]:
    """Without the keys: the event as archived, saying its payload is sealed."""
    return event | {"dataSealed": True} if "sealed" in event else event


def _unpack(plaintext: bytes) -> Any:
    form, body = plaintext[:1], plaintext[1:]
    return json.loads(zlib.decompress(body) if form == b"\x01" else body)


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise RuntimeError(
            "opening sealed payloads needs the cryptography package: pip install 'eventstore-client[archive]'"
        ) from exc
    return AESGCM(key)
