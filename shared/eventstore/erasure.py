"""Crypto-shredding: each data subject's payloads are encrypted under a key of its own; erasing the subject
destroys the key, and every copy of the ciphertext (table, backups, exports) then means nothing.

Envelope encryption: a subject's 256-bit data key comes from a KeyService (KMS GenerateDataKey under the
store's customer managed key, with an encryption context naming the subject) and is kept only wrapped, in
a table of its own (SubjectKeys). Payloads are sealed with AES-256-GCM (`cryptography`, imported on first
use: functions that never seal or open pay nothing at cold start). Keyring.open_commit is the one step
every read path takes after decode_commit. Design and reasoning: docs/design.md, "Erasure".
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from eventstore import commits, timefmt
from eventstore.config import required
from eventstore.domain import (
    Caller,
    DataSubjectErased,
    DataSubjectNotFound,
    EventPage,
    RecordedEvent,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from mypy_boto3_kms import KMSClient

    from eventstore.appends import NewEvent, Sealing
    from eventstore.commits import Commit
    from eventstore.snapshots import Snapshot

KEY_CACHE_SECONDS: Final = 30.0
"""How long a container keeps a subject's plaintext key: at most this long after an erasure returns, a
warm container that used the key before may still seal or open with it (docs/design.md, "Erasure")."""
CONTEXT_KEY: Final = "eventstore:dataSubject"
"""The encryption context's key: KMS binds each wrapped data key to its subject (and CloudTrail shows it)."""
_NONCE_BYTES: Final = 12
_CACHE_PRUNE_AT: Final = 10_000
"""Entries in a container's key cache before expired keys are dropped (they are otherwise dropped when
next looked up)."""
_KMS_TRANSIENT: Final = frozenset(
    {"ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "LimitExceededException"}
)

logger = logging.getLogger(__name__)


def encryption_context(data_subject: str) -> dict[str, str]:
    return {CONTEXT_KEY: data_subject}


# Where data keys come from ------------------------------------------------------------------------


class KeyService(Protocol):
    """Makes data keys and unwraps them (KMS on AWS and on moto; LocalKeyService for the memory store)."""

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A new 256-bit key: (plaintext, wrapped)."""
        ...

    def decrypt(self, wrapped: bytes, context: Mapping[str, str]) -> bytes: ...


class KmsKeyService:
    """KMS GenerateDataKey/Decrypt under one customer managed key. The client is made on first use: a
    container whose requests name no subject never loads KMS's service model."""

    def __init__(self, client: Callable[[], KMSClient], key_id: str) -> None:
        self._make_client = client
        self._key_id = key_id

    @functools.cached_property
    def _client(self) -> KMSClient:
        return self._make_client()

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        with _kms_errors():
            answer = self._client.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=dict(context)
            )
        return answer["Plaintext"], answer["CiphertextBlob"]

    def decrypt(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        with _kms_errors():
            # KeyId pins the key: a wrapped key from any other key is refused, not tried.
            answer = self._client.decrypt(
                CiphertextBlob=wrapped, KeyId=self._key_id, EncryptionContext=dict(context)
            )
        return answer["Plaintext"]


@contextlib.contextmanager
def _kms_errors() -> Iterator[None]:
    """KMS failures left after botocore's retries become ServiceUnavailable (503); others pass (500)."""
    try:
        yield
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in _KMS_TRANSIENT:
            raise ServiceUnavailable(f"KMS is throttling or unavailable ({code})") from exc
        raise
    except BotoCoreError as exc:
        raise ServiceUnavailable(f"KMS could not be reached ({type(exc).__name__})") from exc


class LocalKeyService:
    """Wraps data keys with AES-256-GCM under a master key held in memory (the memory store's stand-in for
    KMS, with the same encryption-context binding: a wrapped key opens only for its own subject)."""

    def __init__(self, master_key: bytes | None = None) -> None:
        self._master = master_key or secrets.token_bytes(32)

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        key = secrets.token_bytes(32)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return key, nonce + _aesgcm(self._master).encrypt(nonce, key, _context_bytes(context))

    def decrypt(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        nonce, body = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
        return _aesgcm(self._master).decrypt(nonce, body, _context_bytes(context))


def _context_bytes(context: Mapping[str, str]) -> bytes:
    return "\n".join(f"{k}={v}" for k, v in sorted(context.items())).encode()


# Where wrapped keys live ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataSubjectState:
    """A data subject's key, for audit: active, or erased (when, and by whom)."""

    data_subject: str
    erased_at: str | None
    erased_by: str | None = None

    @property
    def state(self) -> Literal["active", "erased"]:
        return "active" if self.erased_at is None else "erased"


@dataclass(frozen=True, slots=True)
class SubjectKey:
    """A subject's entry in the keys table: its wrapped key while active; who erased it, and when, after."""

    data_subject: str
    wrapped: bytes | None
    erased_at: str | None = None
    erased_by: str | None = None

    def state(self) -> DataSubjectState:
        return DataSubjectState(self.data_subject, self.erased_at, self.erased_by)


class SubjectKeys(Protocol):
    """The keys table (eventstore.dynamodb.keys on AWS; MemorySubjectKeys beside the memory store)."""

    def get(self, data_subject: str) -> SubjectKey | None: ...

    def add(self, data_subject: str, wrapped: bytes, created_at: str) -> SubjectKey:
        """Store a subject's first key unless it has an entry (a key, or an erasure); return the entry
        that is stored."""
        ...

    def erase(self, data_subject: str, erased_at: str, caller: Caller) -> SubjectKey:
        """Destroy the wrapped key for good and record the erasure (the first one's time and caller stay);
        a subject never seen gets the record too, so it can never get a key."""
        ...


class MemorySubjectKeys:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, SubjectKey] = {}

    def get(self, data_subject: str) -> SubjectKey | None:
        with self._lock:
            return self._keys.get(data_subject)

    def add(self, data_subject: str, wrapped: bytes, created_at: str) -> SubjectKey:
        del created_at
        with self._lock:
            return self._keys.setdefault(data_subject, SubjectKey(data_subject, wrapped))

    def erase(self, data_subject: str, erased_at: str, caller: Caller) -> SubjectKey:
        with self._lock:
            known = self._keys.get(data_subject)
            if known is None or known.erased_at is None:
                known = SubjectKey(data_subject, None, erased_at, caller.principal)
                self._keys[data_subject] = known
            return known


@dataclass(frozen=True, slots=True)
class KeySettings:
    """The data-subject keys: their table and the KMS key that wraps them (None for functions that only
    erase or describe subjects and never use a key). Here, not in eventstore.config: functions without
    keys do not create it at init."""

    table_name: str
    kms_key_id: str | None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, *, kms: bool) -> KeySettings:
        return cls(
            table_name=required(environ, "EVENTSTORE_KEYS_TABLE_NAME"),
            kms_key_id=required(environ, "EVENTSTORE_DATA_KEY_KMS_KEY_ID") if kms else None,
        )


# The keyring ----------------------------------------------------------------------------------------


class KeysNotConfigured(RuntimeError):
    """A function without the keys table and key was given, or read, a data subject's event."""


def seal_without_keys(stream_id: str, events: Sequence[NewEvent]) -> Sealing:
    """What a store without a keyring seals: nothing; an event with a data subject is a deployment fault."""
    from eventstore.appends import Sealing  # noqa: PLC0415 - writers only, whose init loads appends

    if any(e.data_subject is not None for e in events):
        raise KeysNotConfigured(
            f"stream {stream_id}: events name a data subject but this function has no keys"
        )
    return Sealing((None,) * len(events), (None,) * len(events))


class Keyring:
    """Seals payloads for their subjects and opens them again, with a short per-container key cache."""

    def __init__(
        self,
        keys: SubjectKeys,
        service: KeyService | None,
        *,
        cache_seconds: float = KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], str] | None = None,
    ) -> None:
        self._keys = keys
        self._service = service
        self._ttl = cache_seconds
        self._clock = clock
        self._now = now or _timestamp
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bytes | None]] = {}

    # Appends

    def seal(self, stream_id: str, events: Sequence[NewEvent]) -> Sealing:
        """Encrypt the payloads of events that name a data subject; DataSubjectErased for an erased one."""
        from eventstore.appends import Sealing  # noqa: PLC0415 - writers only, whose init loads appends

        if all(e.data_subject is None for e in events):
            return Sealing((None,) * len(events), (None,) * len(events))
        ciphertexts: list[bytes | None] = []
        fingerprints: list[str | None] = []
        for event in events:
            if event.data_subject is None:
                ciphertexts.append(None)
                fingerprints.append(None)
                continue
            key = self._key_for_append(event.data_subject)
            aad = _associated_data(stream_id, event.event_id, event.data_subject)
            ciphertexts.append(_seal_value(key, event.payload, aad))
            fingerprints.append(_fingerprint(key, event.payload))
        return Sealing(tuple(ciphertexts), tuple(fingerprints))

    def seal_state(self, stream_id: str, revision: int, data_subject: str, state: Any) -> tuple[bytes, str]:
        """A snapshot's state sealed like an event's payload, and its fingerprint (for the snapshot's
        digest); DataSubjectErased for an erased subject. Bound to the stream and revision: a ciphertext
        cannot be moved to another stream's snapshot, or presented as another revision's."""
        key = self._key_for_append(data_subject)
        aad = _snapshot_associated_data(stream_id, revision, data_subject)
        return _seal_value(key, state, aad), _fingerprint(key, state)

    def _key_for_append(self, data_subject: str) -> bytes:
        cached = self._cached(data_subject)
        if cached is not None:
            if cached[1] is None:
                raise DataSubjectErased(data_subject)
            return cached[1]
        since = self._clock()
        entry = self._keys.get(data_subject)
        if entry is None:
            plaintext, wrapped = self._key_service().generate_data_key(encryption_context(data_subject))
            entry = self._keys.add(data_subject, wrapped, self._now())
            if entry.wrapped == wrapped:
                self._remember(data_subject, plaintext, since)
                return plaintext
            # Another container stored a key (or an erasure) first: that entry is the subject's.
        key = self._unwrap(entry, since)
        if key is None:
            raise DataSubjectErased(data_subject)
        return key

    # Reads

    def open_commit(self, commit: Commit) -> Commit:
        """The commit with every sealed payload opened, or marked erased: the step after decode_commit on
        every read path (reads, feeds, exports)."""
        if all(e.sealed is None for e in commit.events):
            return commit
        return replace(commit, events=self.open_events(commit.events))

    def open_page(self, page: EventPage) -> EventPage:
        if all(e.sealed is None for e in page.events):
            return page
        return replace(page, events=self.open_events(page.events))

    def open_events(self, events: Sequence[RecordedEvent]) -> tuple[RecordedEvent, ...]:
        return tuple(self._open(e) for e in events)

    def _open(self, event: RecordedEvent) -> RecordedEvent:
        if event.sealed is None or event.data_subject is None:
            return event
        key = self._key_for_read(event.data_subject)
        if key is None:
            return replace(event, payload=None, payload_erased=True, sealed=None)
        aad = _associated_data(event.stream_id, event.event_id, event.data_subject)
        return replace(event, payload=_open_value(key, event.sealed, aad), sealed=None)

    def open_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with its state opened, or marked erased once the subject's key is gone."""
        if snapshot.sealed is None or snapshot.data_subject is None:
            return snapshot
        key = self._key_for_read(snapshot.data_subject)
        if key is None:
            return replace(snapshot, state=None, state_erased=True, sealed=None)
        aad = _snapshot_associated_data(snapshot.stream_id, snapshot.revision, snapshot.data_subject)
        return replace(snapshot, state=_open_value(key, snapshot.sealed, aad), sealed=None)

    def _key_for_read(self, data_subject: str) -> bytes | None:
        cached = self._cached(data_subject)
        if cached is not None:
            return cached[1]
        since = self._clock()
        entry = self._keys.get(data_subject)
        # No entry at all (a keys table restored from before the key existed): the key is gone as surely.
        return None if entry is None else self._unwrap(entry, since)

    # Erasure and audit

    def erase(self, data_subject: str, caller: Caller) -> DataSubjectState:
        entry = self._keys.erase(data_subject, self._now(), caller)
        self._remember(data_subject, None, self._clock())
        # The audit record: who and when, never a payload. Subject ids are pseudonymous (openapi.yaml).
        logger.info(
            "data subject erased",
            extra={
                "dataSubject": data_subject,
                "erasedAt": entry.erased_at,
                "erasedBy": entry.erased_by,
                "requestId": caller.request_id,
                "principal": caller.principal,
            },
        )
        return entry.state()

    def describe(self, data_subject: str) -> DataSubjectState:
        entry = self._keys.get(data_subject)
        if entry is None:
            raise DataSubjectNotFound(data_subject)
        return entry.state()

    def _key_service(self) -> KeyService:
        if self._service is None:
            raise KeysNotConfigured("this function may not use data keys (no KMS key configured)")
        return self._service

    # The cache

    def _unwrap(self, entry: SubjectKey, since: float) -> bytes | None:
        """The entry's plaintext key (None: erased), cached until `since` (when the entry was asked
        for) plus the cache time, so a key read just before an erasure expires as the documented bound
        says, however long KMS took."""
        key = None
        if entry.wrapped is not None:
            key = self._key_service().decrypt(entry.wrapped, encryption_context(entry.data_subject))
        self._remember(entry.data_subject, key, since)
        return key

    def _cached(self, data_subject: str) -> tuple[float, bytes | None] | None:
        with self._lock:
            hit = self._cache.get(data_subject)
            if hit is None:
                return None
            # An erasure is for ever: only active keys expire.
            if hit[1] is not None and self._clock() >= hit[0]:
                del self._cache[data_subject]
                return None
            return hit

    def _remember(self, data_subject: str, key: bytes | None, since: float) -> None:
        with self._lock:
            if self._cache.get(data_subject, (0.0, b""))[1] is None:
                return  # erased here already: a slower lookup must not bring the key back
            if len(self._cache) >= _CACHE_PRUNE_AT:
                now = self._clock()
                self._cache = {s: e for s, e in self._cache.items() if e[1] is None or e[0] > now}
            self._cache[data_subject] = (since + self._ttl, key)


def _associated_data(stream_id: str, event_id: str, data_subject: str) -> bytes:
    """Binds a ciphertext to its event: it cannot be moved to another event or subject unnoticed."""
    return f"{stream_id}\n{event_id}\n{data_subject}".encode()


def _snapshot_associated_data(stream_id: str, revision: int, data_subject: str) -> bytes:
    """Binds a snapshot's ciphertext to its stream, revision and subject. Never equal to an event's
    (`_associated_data`): four lines, not three, and the second is not an event id."""
    return f"{stream_id}\nsnapshot\n{revision}\n{data_subject}".encode()


def _fingerprint(key: bytes, payload: Any) -> str:
    """A keyed hash of the payload for the commit's digest (idempotent retries): it means nothing without
    the key, so an erased payload cannot be guessed from it."""
    fingerprint_key = hmac.digest(key, b"eventstore payload fingerprint", hashlib.sha256)
    canonical = json.dumps(
        payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    )
    return hmac.digest(fingerprint_key, canonical.encode(), hashlib.sha256).hex()


def _timestamp() -> str:
    return timefmt.format_instant(datetime.now(UTC))


@functools.cache
def _aesgcm_class() -> type[AESGCM]:
    # Imported on first use: only functions that seal or open payloads pay for `cryptography`.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    return AESGCM


def _aesgcm(key: bytes) -> AESGCM:
    return _aesgcm_class()(key)


def _seal_value(key: bytes, value: Any, aad: bytes) -> bytes:
    """A payload or a snapshot's state, packed (compressed when smaller) and sealed: nonce ‖ AES-256-GCM."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _aesgcm(key).encrypt(nonce, commits.pack_payload(value), aad)


def _open_value(key: bytes, sealed: bytes, aad: bytes) -> Any:
    """What `_seal_value` sealed under the same key and associated data (else InvalidTag)."""
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return commits.unpack_payload(_aesgcm(key).decrypt(nonce, body, aad))
