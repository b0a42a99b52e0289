"""Opaque, tamper-evident page keys: base64url(JSON) + "." + base64url(HMAC-SHA256)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eventstore.config import ConfigurationError
from eventstore.domain import InvalidRequest

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

# GenerateMac over this fixed label derives the signing secret: the KMS key never leaves KMS and every
# container derives the same secret with one call at cold start.
_DERIVATION_LABEL: Final = b"eventstore/page-keys/v1"
PAGE_KEY_PARAM: Final = "/query/stream-next-page-key"
EARLIER_PAGE_KEY: Final = "the page key comes from an earlier version of the store; start the listing again"


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


class InvalidPageKey(ValueError):
    pass


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_from_kms(kms: KMSClient, key_id: str) -> bytes:
    response = kms.generate_mac(KeyId=key_id, Message=_DERIVATION_LABEL, MacAlgorithm="HMAC_SHA_256")
    return response["Mac"]


class PageKeySigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:  # noqa: PLR2004 - shorter secrets are guessable
            raise ValueError("the page-key secret must be at least 16 bytes")
        self._secret = secret

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()

    def encode(self, content: dict[str, Any]) -> str:
        body = json.dumps(content, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64encode(body)}.{_b64encode(self._tag(body))}"

    def decode(self, token: str) -> dict[str, Any]:
        try:
            body_text, tag_text = token.split(".")
            body, tag = _b64decode(body_text), _b64decode(tag_text)
        except (ValueError, binascii.Error) as exc:
            raise InvalidPageKey("the page key is malformed") from exc
        if not hmac.compare_digest(tag, self._tag(body)):
            raise InvalidPageKey("the page key was not issued by this store or was altered")
        content = json.loads(body)
        if not isinstance(content, dict):
            raise InvalidPageKey("the page key is malformed")
        return content


def decode_listing_key(
    signer: PageKeySigner, token: str, stream_type: str, updated_after: str, version: int
) -> tuple[str, str]:
    """The position a listing's previous page ended at and the settle horizon it used, from its page key,
    checked to continue this listing: the same stream type and updated-after, and the store's page-key
    version. A bad key is the client's error (400)."""
    try:
        content = signer.decode(token)
    except InvalidPageKey as exc:
        raise InvalidRequest.single(PAGE_KEY_PARAM, str(exc)) from exc
    if content.get("type") != stream_type:
        raise InvalidRequest.single(
            PAGE_KEY_PARAM, "the page key belongs to a listing of another stream type"
        )
    if content.get("after") != updated_after:
        raise InvalidRequest.single(
            PAGE_KEY_PARAM, "the page key belongs to a listing with another updated-after"
        )
    position, horizon = content.get("position"), content.get("upper")
    if content.get("v") != version or not isinstance(position, str) or not isinstance(horizon, str):
        raise InvalidRequest.single(PAGE_KEY_PARAM, EARLIER_PAGE_KEY)
    return position, horizon
