"""What a create or an append takes and returns: its values live apart from domain.py, so that functions
that never write (reads, feeds, notify_stream) do not create them at init (docs/design.md, "Cold start")."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventstore.domain import JsonValue, StreamState


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append, as the client described it (ids already resolved)."""

    event_id: str
    event_type: str
    payload: JsonValue
    metadata: dict[str, JsonValue] = field(default_factory=dict)
    data_subject: str | None = None
    """The person the payload is about: the payload is stored encrypted under that subject's key."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream: StreamState
    replayed: bool
    """True when the append had already been carried out by an earlier identical request."""

    first_revision: int
    attempts: int = 1
    """Commit writes the append made: more than one when an "any" append lost races and retried."""


@dataclass(frozen=True, slots=True)
class Sealing:
    """An append's events as they are stored: per event its ciphertext and fingerprint (None: no subject).
    eventstore.erasure's keyring makes it, for writers only."""

    ciphertexts: tuple[bytes | None, ...]
    fingerprints: tuple[str | None, ...]
