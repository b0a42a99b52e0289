"""Configuration, read once at the edge (module scope of each handler); fails fast naming what is missing."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventstore.lifecycle import Retention, parse_retention_defaults


class ConfigurationError(RuntimeError):
    pass


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required and not set")
    return value


@dataclass(frozen=True, slots=True)
class StoreSettings:
    table_name: str
    listing_settle_seconds: float
    """How long listing entries wait for the (eventually consistent) index. Writers need it too: a write
    that took longer than half of it marks its stream for listing again (docs/design.md)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> StoreSettings:
        settle = environ.get("EVENTSTORE_LISTING_SETTLE_SECONDS", "1")
        try:
            settle_seconds = float(settle)
        except ValueError as exc:
            raise ConfigurationError(
                f"EVENTSTORE_LISTING_SETTLE_SECONDS is not a number: {settle!r}"
            ) from exc
        if not 0 <= settle_seconds <= 60:  # noqa: PLR2004 - the Terraform variable's bounds
            raise ConfigurationError("EVENTSTORE_LISTING_SETTLE_SECONDS must be between 0 and 60")
        return cls(
            table_name=_required(environ, "EVENTSTORE_TABLE_NAME"), listing_settle_seconds=settle_seconds
        )


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Per stream type defaults of maxCount / maxAgeSeconds (a stream's metadata overrides them):
    `EVENTSTORE_RETENTION_DEFAULTS` = `{"<streamType>": {"maxCount": N, "maxAgeSeconds": S}}`, optional."""

    defaults: dict[str, Retention] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RetentionSettings:
        text = environ.get("EVENTSTORE_RETENTION_DEFAULTS", "").strip()
        if not text:
            return cls()
        try:
            return cls(parse_retention_defaults(json.loads(text)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise ConfigurationError(f"EVENTSTORE_RETENTION_DEFAULTS: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PageKeySettings:
    """Where the page-key signing secret comes from: a KMS HMAC key (AWS) or the secret itself (local)."""

    kms_key_id: str | None
    secret: bytes | None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PageKeySettings:
        kms_key_id = environ.get("EVENTSTORE_PAGE_KEY_KMS_KEY_ID", "").strip() or None
        secret = environ.get("EVENTSTORE_PAGE_KEY_SECRET", "").strip() or None
        if (kms_key_id is None) == (secret is None):
            raise ConfigurationError(
                "set exactly one of EVENTSTORE_PAGE_KEY_KMS_KEY_ID (AWS) and "
                "EVENTSTORE_PAGE_KEY_SECRET (local runtime and tests)"
            )
        return cls(kms_key_id=kms_key_id, secret=secret.encode() if secret else None)


@dataclass(frozen=True, slots=True)
class TopicSettings:
    topic_arn: str

    @property
    def is_fifo(self) -> bool:
        return self.topic_arn.endswith(".fifo")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> TopicSettings:
        return cls(topic_arn=_required(environ, "EVENTSTORE_TOPIC_ARN"))


@dataclass(frozen=True, slots=True)
class KeySettings:
    """The data-subject keys: their table and the KMS key that wraps them (None for functions that only
    erase or describe subjects and never use a key)."""

    table_name: str
    kms_key_id: str | None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, *, kms: bool) -> KeySettings:
        return cls(
            table_name=_required(environ, "EVENTSTORE_KEYS_TABLE_NAME"),
            kms_key_id=_required(environ, "EVENTSTORE_DATA_KEY_KMS_KEY_ID") if kms else None,
        )


@dataclass(frozen=True, slots=True)
class PayloadSettings:
    """The bucket that holds payloads too large for a commit item (docs/design.md, "Large payloads")."""

    bucket: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PayloadSettings:
        return cls(bucket=_required(environ, "EVENTSTORE_PAYLOAD_BUCKET"))


@dataclass(frozen=True, slots=True)
class RemovalSettings:
    """The removal function's: its table, the per-type retention defaults, and the optional buckets."""

    table_name: str
    retention_defaults_json: str
    """EVENTSTORE_RETENTION_DEFAULTS: JSON {"<streamType>": {"maxCount": N, "maxAgeSeconds": S}}."""
    archive_bucket: str | None
    """EVENTSTORE_ARCHIVE_BUCKET: archive removed events there first (unset: no archive)."""
    payload_bucket: str | None
    """EVENTSTORE_PAYLOAD_BUCKET: payload objects of removed streams go too (issue 21; unset: none)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RemovalSettings:
        return cls(
            table_name=_required(environ, "EVENTSTORE_TABLE_NAME"),
            retention_defaults_json=environ.get("EVENTSTORE_RETENTION_DEFAULTS", ""),
            archive_bucket=environ.get("EVENTSTORE_ARCHIVE_BUCKET", "").strip() or None,
            payload_bucket=environ.get("EVENTSTORE_PAYLOAD_BUCKET", "").strip() or None,
        )
