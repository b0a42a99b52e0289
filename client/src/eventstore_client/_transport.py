"""Signed HTTP with bounded, jittered retries. Signing is botocore's SigV4Auth; sending is urllib3."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import botocore.session
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import NoCredentialsError

from eventstore_client.errors import MissingRegion, ServiceUnavailable, TransportError, error_from_response

logger = logging.getLogger("eventstore_client")

SERVICE = "execute-api"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class CredentialSource(Protocol):
    """A boto3.Session or a botocore Session: anything that resolves credentials."""

    def get_credentials(self) -> Credentials | None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter. Every attempt re-sends the same body (same event ids)."""

    max_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0
    max_retry_after: float = 30.0  # an outsized Retry-After must not park a caller for minutes
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any


def resolve_region(base_url: str, region: str | None, session: Any) -> str:
    """Explicit region, else the one in an execute-api host name, else the session's (AWS_DEFAULT_REGION)."""
    if region:
        return region
    match = _EXECUTE_API_HOST.search(urlsplit(base_url).hostname or "")
    if match:
        return match.group(1)
    configured = session.get_config_variable("region") if hasattr(session, "get_config_variable") else None
    configured = configured or getattr(session, "region_name", None)
    if configured:
        return str(configured)
    env_region = os.environ.get("AWS_REGION")
    if env_region:
        return env_region
    raise MissingRegion("no AWS region: pass region=..., or set AWS_REGION or AWS_DEFAULT_REGION")


def check_base_url(base_url: str) -> None:
    """Fail at once, naming the URL, rather than deep inside botocore when the first request is signed."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"not an http:// or https:// URL: {base_url!r}")


def sign_request(
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    *,
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
    service: str = SERVICE,
) -> dict[str, str]:
    """The headers to send: `headers` plus SigV4's (X-Amz-Date, Authorization and, with a session token,
    X-Amz-Security-Token). The client and the local runtime's test helper both sign here."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the backoff is good enough then


class SignedTransport:
    def __init__(
        self,
        base_url: str,
        *,
        region: str | None,
        session: CredentialSource | None,
        retry: RetryPolicy,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_base_url(base_url)
        self._base_url = base_url.rstrip("/")
        self._session: Any = session if session is not None else botocore.session.get_session()
        self.region = resolve_region(self._base_url, region, self._session)
        self._retry = retry
        self._sleep = sleep
        self._pool = pool or urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=retry.connect_timeout, read=retry.read_timeout),
            retries=False,  # retries are ours: they must re-sign and honour Retry-After
        )

    def url(self, *segments: str, query: Mapping[str, str | int | Sequence[str]] | None = None) -> str:
        """A list value repeats its parameter (`event-type=A&event-type=B`)."""
        path = "/".join(quote(s, safe="") for s in segments)
        url = f"{self._base_url}/{path}"
        if query:
            pairs = [
                (k, str(item))
                for k, v in query.items()
                for item in (v if isinstance(v, (list, tuple)) else [v])
            ]
            # RFC 3986 encoding: the signed canonical query string is taken from the URL verbatim.
            url += "?" + urlencode(sorted(pairs), quote_via=quote)
        return url

    def _sign(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise NoCredentialsError
        return sign_request(
            method, url, body, headers, credentials=credentials.get_frozen_credentials(), region=self.region
        )

    def request(self, method: str, url: str, body: Any = None, *, replay_safe: bool = True) -> Response:
        """Send with retries on transport errors, 429 and 5xx; raise the mapped error otherwise.

        With `replay_safe=False` (a request the server can recognise as a repeat only for a while, such
        as an "any" append), only failures that cannot have reached the server are retried: a connection
        that was never made, and 429.
        """
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        base_headers = {"Accept": "application/json, application/problem+json"}
        if data is not None:
            base_headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            # Re-signed on every attempt: X-Amz-Date must be fresh and credentials may have rotated.
            signed = self._sign(method, url, data, base_headers)
            try:
                raw = self._pool.request(method, url, body=data, headers=signed, redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                never_sent = isinstance(
                    exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
                )
                if attempt + 1 >= self._retry.max_attempts or not (replay_safe or never_sent):
                    raise TransportError(f"{method} {url}: {exc}") from exc
                delay = self._retry.delay(attempt, None)
                logger.info("retrying %s %s after %s (in %.2fs)", method, url, type(exc).__name__, delay)
            else:
                response = Response(raw.status, raw.headers, _decode(raw.data))  # case-insensitive headers
                if response.status < 400:  # noqa: PLR2004
                    return response
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
                error = error_from_response(response.status, response.body, retry_after)
                retryable = response.status in RETRYABLE_STATUSES or isinstance(error, ServiceUnavailable)
                if not replay_safe:
                    retryable = response.status == 429  # noqa: PLR2004 - throttled before anything ran
                if not retryable or attempt + 1 >= self._retry.max_attempts:
                    raise error
                delay = self._retry.delay(attempt, retry_after)
                logger.info("retrying %s %s after HTTP %s (in %.2fs)", method, url, response.status, delay)
            self._sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._pool.clear()


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return {"detail": data[:500].decode(errors="replace")}
