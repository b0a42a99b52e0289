"""Large payloads (the claim check): payloads a commit item cannot hold live as objects in a bucket, named
by their stream and SHA-256, written before the commit that points to them (docs/design.md, "Large
payloads"); and the response budget every page of events is cut to.

Reads load an object back, check its size and SHA-256, and hand the event on exactly as if the payload
had been inline: plain (`pack_payload`'s bytes) or sealed, for Keyring.open_commit to open.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final, Protocol

from eventstore import commits, jsontext
from eventstore.domain import PayloadTooLarge, RecordedEvent, StoredPayloadCorrupt

LAMBDA_RESPONSE_BYTES: Final = 6 * 1024 * 1024 + 100
"""Lambda's synchronous response limit as enforced: 6,291,556 bytes (6 MiB + 100) of the proxy response's
JSON, in which the body is one JSON string (escaped once by the runtime, UTF-8 as is on python3.12+)."""

RESPONSE_MARGIN_BYTES: Final = 64 * 1024
"""The proxy response around a page's events: status, headers, paging fields."""

EVENT_FIELDS_BYTES: Final = 2048
"""An event's fields besides payload and metadata (ids, type, subject, times; bounded by openapi.yaml),
escaped."""

PAGE_BUDGET_BYTES: Final = LAMBDA_RESPONSE_BYTES - RESPONSE_MARGIN_BYTES
"""What a page's events may take in the response; a page ends early (hasMore) before it would pass."""


class PayloadObjects(Protocol):
    """The payload bucket (payloadbucket.S3PayloadObjects; MemoryPayloadObjects for the memory store and
    tests)."""

    def put(self, key: str, body: bytes) -> None:
        """Store the object (overwriting the same key is harmless: the key is the content's hash)."""
        ...

    def get(self, key: str) -> bytes:
        """The object; StoredPayloadCorrupt when there is none."""
        ...


class MemoryPayloadObjects:
    """A bucket in a dict (the memory store's, and tests')."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        with self._lock:
            self.objects[key] = body

    def get(self, key: str) -> bytes:
        with self._lock:
            found = self.objects.get(key)
        if found is None:
            raise StoredPayloadCorrupt(f"the payload object {key} is missing")
        return found


class NoPayloadObjects:
    """A store without a bucket (functions that never write or read payloads): large payloads are refused,
    as before offloading existed, and a reference cannot be loaded."""

    def put(self, key: str, body: bytes) -> None:
        del key
        raise PayloadTooLarge(
            f"a payload of {len(body)} bytes does not fit one item of {commits.MAX_ITEM_BYTES} bytes and "
            "this store has no payload bucket (EVENTSTORE_PAYLOAD_BUCKET)"
        )

    def get(self, key: str) -> bytes:
        raise StoredPayloadCorrupt(f"payload {key} is in a bucket this function was not given")


# Writes ------------------------------------------------------------------------------------------------


def store_large(item: commits.Item, objects: PayloadObjects) -> commits.Item:
    """The commit item to write: large payloads uploaded first, replaced by references. A commit therefore
    never points to a missing object; an upload whose commit is then not written (a lost race, a 409, a
    crash) is an orphan, harmless and swept later (docs/design.md)."""
    offloaded = commits.offload(item)
    for key, body in offloaded.objects:
        objects.put(key, body)
    commits.check_size(offloaded.item)
    return offloaded.item


# Reads -------------------------------------------------------------------------------------------------


def load(event: RecordedEvent, objects: PayloadObjects) -> RecordedEvent:
    """The event with its offloaded payload back in place: plain, or sealed for the keyring to open."""
    ref = event.stored_ref
    if ref is None:
        return event
    body = objects.get(ref.key)
    if len(body) != ref.size or hashlib.sha256(body).hexdigest() != ref.sha256:
        raise StoredPayloadCorrupt(
            f"the payload object {ref.key} does not match its reference (size or SHA-256); not served"
        )
    if event.data_subject is not None:
        return replace(event, sealed=body, stored_ref=None)
    return replace(event, payload=commits.unpack_payload(body), stored_ref=None)


def response_bytes(event: RecordedEvent) -> int:
    """What the event adds to a response: payload and metadata as JSON text inside the body, the body
    escaped once more as the proxy response's string; plus its other fields. Known from decoding for
    inline payloads (the stored text is the rendered one); measured for loaded or opened ones."""
    if event.text_bytes is not None and event.stored_ref is None and event.sealed is None:
        return event.text_bytes + EVENT_FIELDS_BYTES
    return (
        _escaped_size(jsontext.dumps(event.payload))
        + _escaped_size(jsontext.dumps(event.metadata))
        + EVENT_FIELDS_BYTES
    )


def _escaped_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def within_budget(
    events: Sequence[RecordedEvent],
    open_event: Callable[[RecordedEvent], RecordedEvent],
    budget: int = PAGE_BUDGET_BYTES,
) -> tuple[list[RecordedEvent], bool]:
    """The events opened one by one (objects loaded, sealed payloads opened) until the next would pass the
    budget; whether that cut the page. The first event is always returned: appends refuse an event that
    would not fit a response alone (`check_readable`)."""
    opened: list[RecordedEvent] = []
    total = 0
    for event in events:
        ready = open_event(event)
        total += response_bytes(ready)
        if opened and total > budget:
            return opened, True
        opened.append(ready)
    return opened, False


def check_readable(payload: Any, metadata: Any, budget: int = PAGE_BUDGET_BYTES) -> None:
    """Refuse an event that could never be read back: alone on a page it must fit Lambda's response
    limit. Requests fit the request limit, so only payloads that grow when escaped (quotes, backslashes,
    control characters) can fail this."""
    size = _escaped_size(jsontext.dumps(payload)) + _escaped_size(jsontext.dumps(metadata))
    if size + EVENT_FIELDS_BYTES > budget:
        raise PayloadTooLarge(
            f"an event would take {size + EVENT_FIELDS_BYTES} bytes in a response (its JSON text escaped "
            f"as a string); a response holds at most {budget} bytes of events"
        )
