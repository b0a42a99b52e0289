"""Configuration, read once at the edge (module scope of each handler); fails fast naming what is missing.

The settings most functions read; the others live beside their users (pagekeys.PageKeySettings,
notifications.TopicSettings, dynamodb.removal.RemovalSettings, erasure.KeySettings,
payloadbucket.PayloadSettings), so that no init builds settings it never reads (docs/design.md, "Cold
start")."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventstore.lifecycle import Retention, parse_retention_defaults


class ConfigurationError(RuntimeError):
    pass


def required(environ: Mapping[str, str], name: str) -> str:
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
            table_name=required(environ, "EVENTSTORE_TABLE_NAME"), listing_settle_seconds=settle_seconds
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
