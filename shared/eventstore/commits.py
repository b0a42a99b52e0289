"""The commit codec: one append as stored (a DynamoDB item), its content digest and its size.

Shared by every store and by notify_stream, which decodes the commits of the table's stream records.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eventstore.domain import Caller, NewEvent, PayloadTooLarge, RecordedEvent, StreamState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

MAX_ITEM_BYTES: Final = 400 * 1024
"""DynamoDB's item size limit: one append is one item."""

type Item = dict[str, AttributeValueTypeDef]


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


def content_digest(events: Sequence[NewEvent]) -> str:
    """What identifies a request's events for idempotent retries: ids, types, payloads, client metadata."""
    canonical = json.dumps(
        [[e.event_id, e.event_type, e.payload, e.metadata] for e in events],
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
) -> Item:
    """A commit item (what decode_commit reads back); the DynamoDB store adds its listing-index entry."""
    return {
        "streamId": {"S": stream_id},
        "revision": {"N": str(first_revision)},
        "streamType": {"S": stream_type},
        "lastRevision": {"N": str(first_revision + len(events) - 1)},
        "committedAt": {"S": committed_at},
        "digest": {"S": digest},
        "events": {"L": _encode_events(events, caller)},
    }


def _encode_events(events: Sequence[NewEvent], caller: Caller) -> list[AttributeValueTypeDef]:
    return [
        {
            "M": {
                "id": {"S": e.event_id},
                "type": {"S": e.event_type},
                "data": {"S": _json_text(e.payload)},
                "meta": {"S": _json_text(_recorded_metadata(e.metadata, caller))},
            }
        }
        for e in events
    ]


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
        RecordedEvent(
            stream_id=stream_id,
            revision=first + offset,
            event_id=entry["M"]["id"]["S"],
            event_type=entry["M"]["type"]["S"],
            payload=json.loads(entry["M"]["data"]["S"]),
            metadata=json.loads(entry["M"]["meta"]["S"]),
            created_at=committed_at,
        )
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


def is_commit_key(keys: Any, image: Any) -> bool:
    """Commits start at revision 1 and carry a digest; the summary (0), the listing marker (-1), feed items
    and checkpoints are not commits."""
    return int(keys["revision"]["N"]) >= 1 and "S" in image["digest"]
