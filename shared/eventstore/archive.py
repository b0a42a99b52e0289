"""The archive of removed events: one gzip JSON Lines object per stream span, and a manifest per stream.

Events are archived as stored, not as reads return them: a data subject's payload stays sealed
(`dataSubject` + base64 `sealed`), so erasing the subject erases its archived events too
(docs/design.md, "Physical removal and archive"). A span object is written, then read back and hashed;
only then is the manifest, which records its SHA-256, written, and only after that may removal delete the
span's commits. `eventstore archive read` (the client) reads the same layout.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from eventstore.commits import unpack_payload

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FORMAT: Final = 1
_PREFIX: Final = "streams"


class ArchiveFailed(RuntimeError):
    """S3 refused or lost a span or the manifest, or the object read back differs: nothing is removed."""


def span_key(stream_id: str, first_revision: int, last_revision: int) -> str:
    # Fixed-width revisions: a stream's spans list in revision order.
    return f"{_PREFIX}/{stream_id}/{first_revision:019d}-{last_revision:019d}.jsonl.gz"


def manifest_key(stream_id: str) -> str:
    return f"{_PREFIX}/{stream_id}/manifest.json"


def _binary(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


def stored_events(
    item: Mapping[str, Any], load_object: Callable[[str], bytes] | None = None
) -> Iterator[dict[str, Any]]:
    """A commit item's events in their stored form, one JSON object each. An offloaded payload (a `ref` to
    the payload bucket) is archived inline, as it would have been stored in the item: removal deletes the
    object with its commit, and an archive must not point to something gone."""
    stream_id = item["streamId"]["S"]
    first = int(item["revision"]["N"])
    for offset, entry in enumerate(item["events"]["L"]):
        event = entry["M"]
        line: dict[str, Any] = {
            "streamId": stream_id,
            "streamType": item["streamType"]["S"],
            "revision": first + offset,
            "eventId": event["id"]["S"],
            "eventType": event["type"]["S"],
            "committedAt": item["committedAt"]["S"],
            "metadata": json.loads(event["meta"]["S"]),
        }
        if "ref" in event:
            stored = _referenced(event["ref"]["M"], load_object)
            if "subj" in event:
                line["dataSubject"] = event["subj"]["S"]
                line["sealed"] = base64.b64encode(stored).decode()
            else:
                line["data"] = unpack_payload(stored)
        elif "sealed" in event:
            line["dataSubject"] = event["subj"]["S"]
            line["sealed"] = base64.b64encode(_binary(event["sealed"]["B"])).decode()
        elif "dataZ" in event:
            line["data"] = json.loads(zlib.decompress(_binary(event["dataZ"]["B"])))
        else:
            line["data"] = json.loads(event["data"]["S"])
        yield line


def _referenced(ref: Mapping[str, Any], load_object: Callable[[str], bytes] | None) -> bytes:
    key = ref["key"]["S"]
    if load_object is None:
        raise ArchiveFailed(f"a payload object ({key}) to archive, but no payload bucket to read it from")
    stored = load_object(key)
    if len(stored) != int(ref["size"]["N"]) or hashlib.sha256(stored).hexdigest() != ref["sha256"]["S"]:
        raise ArchiveFailed(f"the payload object {key} does not match its reference; nothing archived")
    return stored


def encode_span(
    items: Sequence[Mapping[str, Any]], load_object: Callable[[str], bytes] | None = None
) -> bytes:
    """The span object: JSON Lines, gzip with no timestamp, so the same span always gives the same bytes."""
    text = "".join(
        json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
        for item in items
        for line in stored_events(item, load_object)
    )
    return gzip.compress(text.encode(), mtime=0)


@dataclass(frozen=True, slots=True)
class ArchivedSpan:
    key: str
    first_revision: int
    last_revision: int
    events: int
    sha256: str
    size: int
    archived_at: str

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "firstRevision": self.first_revision,
            "lastRevision": self.last_revision,
            "events": self.events,
            "sha256": self.sha256,
            "bytes": self.size,
            "archivedAt": self.archived_at,
        }


class ArchiveWriter:
    """Writes spans and manifests to the archive bucket; every failure is an ArchiveFailed."""

    def __init__(self, s3: S3Client, bucket: str, payload_bucket: str | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._payload_bucket = payload_bucket

    def _payload_object(self, key: str) -> bytes:
        if self._payload_bucket is None:
            raise ArchiveFailed(f"a payload object ({key}) to archive, but no payload bucket to read it from")
        body: bytes = self._s3.get_object(Bucket=self._payload_bucket, Key=key)["Body"].read()
        return body

    def archive(
        self, stream_id: str, stream_type: str, items: Sequence[Mapping[str, Any]], archived_at: str
    ) -> ArchivedSpan:
        """Write a span, read it back and compare hashes, then record it in the stream's manifest."""
        first = int(items[0]["revision"]["N"])
        last = int(items[-1]["lastRevision"]["N"])
        try:
            body = encode_span(items, self._payload_object)
        except (ClientError, BotoCoreError) as exc:
            raise ArchiveFailed(f"reading the payload objects of {stream_id} failed: {exc}") from exc
        digest = hashlib.sha256(body).hexdigest()
        span = ArchivedSpan(
            key=span_key(stream_id, first, last),
            first_revision=first,
            last_revision=last,
            events=sum(len(item["events"]["L"]) for item in items),
            sha256=digest,
            size=len(body),
            archived_at=archived_at,
        )
        try:
            self._put(span.key, body, "application/gzip")
            stored = self._s3.get_object(Bucket=self._bucket, Key=span.key)["Body"].read()
            if hashlib.sha256(stored).hexdigest() != digest:
                raise ArchiveFailed(f"s3://{self._bucket}/{span.key} reads back with another SHA-256")
            self._record(stream_id, stream_type, span)
        except (ClientError, BotoCoreError) as exc:
            raise ArchiveFailed(f"archiving {span.key} failed: {exc}") from exc
        return span

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def _record(self, stream_id: str, stream_type: str, span: ArchivedSpan) -> None:
        key = manifest_key(stream_id)
        try:
            manifest = json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {"NoSuchKey", "404"}:
                raise
            manifest = {"format": FORMAT, "streamId": stream_id, "streamType": stream_type, "spans": []}
        # A span archived again (a run killed before its deletes) replaces its own entry.
        spans = [entry for entry in manifest["spans"] if entry["key"] != span.key]
        spans.append(span.manifest_entry())
        manifest["spans"] = sorted(spans, key=lambda entry: (entry["firstRevision"], entry["lastRevision"]))
        self._put(key, json.dumps(manifest, indent=1).encode(), "application/json")
