"""The payload bucket on S3 and its setting: only the functions that store or load large payloads import
this module (docs/design.md, "Large payloads" and "Cold start")."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from eventstore.config import required
from eventstore.domain import ServiceUnavailable, StoredPayloadCorrupt

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_S3_TRANSIENT: Final = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
)


@dataclass(frozen=True, slots=True)
class PayloadSettings:
    """The bucket that holds payloads too large for a commit item (docs/design.md, "Large payloads")."""

    bucket: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PayloadSettings:
        return cls(bucket=required(environ, "EVENTSTORE_PAYLOAD_BUCKET"))


class S3PayloadObjects:
    """One S3 bucket. The client is made on first use: containers that only see small payloads never load
    S3's service model (cold start, docs/design.md)."""

    def __init__(self, client: Callable[[], S3Client], bucket: str) -> None:
        self._make_client = client
        self.bucket = bucket

    @functools.cached_property
    def _client(self) -> S3Client:
        return self._make_client()

    def put(self, key: str, body: bytes) -> None:
        with _s3_errors("stored; nothing was written, retry the request"):
            # S3 checks the SHA-256 of what it received against the one sent.
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
            )

    def get(self, key: str) -> bytes:
        try:
            with _s3_errors("read; retry the request"):
                answer = self._client.get_object(Bucket=self.bucket, Key=key)
                body: bytes = answer["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise StoredPayloadCorrupt(f"the payload object {key} is missing") from exc
            raise
        return body


@contextlib.contextmanager
def _s3_errors(doing: str) -> Iterator[None]:
    """S3 failures left after botocore's retries become ServiceUnavailable (503); others pass (500)."""
    try:
        yield
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in _S3_TRANSIENT:
            raise ServiceUnavailable(f"S3 is unavailable ({code}): the payload could not be {doing}") from exc
        raise
    except BotoCoreError as exc:
        raise ServiceUnavailable(
            f"S3 could not be reached ({type(exc).__name__}): the payload could not be {doing}"
        ) from exc
