"""API Gateway's AWS_IAM authorization: verify a request's SigV4 signature with botocore's own signer.

The request is rebuilt as an `AWSRequest` holding only the headers the client signed, at the client's
X-Amz-Date, and botocore computes the canonical request, string to sign and signature; the two signatures
are compared in constant time. The error messages are API Gateway's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_runtime.lambdas import ACCOUNT_ID

SERVICE = "execute-api"
_MAX_SKEW = dt.timedelta(minutes=5)
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]+)\s*$"
)


class AuthorizationError(Exception):
    """A 403 from API Gateway; `message` is its JSON body's message."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


MISSING_TOKEN = "Missing Authentication Token"  # noqa: S105 - API Gateway's message, not a password
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True)
class Identity:
    """What API Gateway puts into requestContext.identity for an IAM-authorized caller."""

    access_key: str
    session_token: str | None

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:user/{self.access_key}"

    @property
    def caller(self) -> str:
        return self.access_key


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    host: str
    raw_path: str
    """As sent, still percent-encoded."""
    raw_query: str
    headers: Mapping[str, str]
    """Lower-case names; repeated headers joined with commas."""
    body: bytes


def verify(
    request: SignedRequest, credentials: Mapping[str, str], region: str, now: dt.datetime | None = None
) -> Identity | None:
    """The caller's identity, None for an unsigned request; AuthorizationError for a bad signature."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    match = _AUTHORIZATION.match(authorization)
    if match is None:
        raise AuthorizationError(
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. "
            f"Authorization={authorization}",
            "IncompleteSignatureException",
        )
    access_key, date, scope_region, service, terminator = _credential_scope(match["credential"])
    secret_key = credentials.get(access_key)
    if secret_key is None:
        raise AuthorizationError(UNKNOWN_KEY, "UnrecognizedClientException")
    if service != SERVICE or terminator != "aws4_request" or scope_region != region:
        raise AuthorizationError(
            f"Credential should be scoped to correct service: '{SERVICE}' and region '{region}'. ",
            "InvalidSignatureException",
        )
    timestamp = _timestamp(request.headers, date, now or dt.datetime.now(dt.UTC))
    expected = _signatures(
        request,
        signed_headers=match["signed_headers"],
        timestamp=timestamp,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
    )
    if not any(hmac.compare_digest(signature, match["signature"]) for signature in expected):
        raise AuthorizationError(BAD_SIGNATURE, "InvalidSignatureException")
    return Identity(access_key=access_key, session_token=request.headers.get("x-amz-security-token"))


def _credential_scope(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:  # noqa: PLR2004 - access key, date, region, service, aws4_request
        raise AuthorizationError(
            f"Credential should be scoped to a valid region. Credential={credential}",
            "IncompleteSignatureException",
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _timestamp(headers: Mapping[str, str], scope_date: str, now: dt.datetime) -> str:
    value = headers.get("x-amz-date")
    if value is None:
        raise AuthorizationError(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            "IncompleteSignatureException",
        )
    try:
        signed_at = dt.datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthorizationError(BAD_SIGNATURE, "InvalidSignatureException") from None
    if value[:8] != scope_date:
        raise AuthorizationError(BAD_SIGNATURE, "InvalidSignatureException")
    if abs(now - signed_at) > _MAX_SKEW:
        raise AuthorizationError(
            f"Signature expired: {value} is now earlier than "
            f"{(now - _MAX_SKEW).strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} - 5 min.)",
            "InvalidSignatureException",
        )
    return value


def _signatures(
    request: SignedRequest,
    *,
    signed_headers: str,
    timestamp: str,
    access_key: str,
    secret_key: str,
    region: str,
) -> list[str]:
    """The signatures a conforming client may have computed for this request.

    Clients differ in how they canonicalize the query: botocore and curl sign it as they sent it (sorted),
    AWS's documented form decodes and re-encodes each parameter. Both are accepted.
    """
    names = signed_headers.split(";")
    if "host" not in names or any(name not in request.headers for name in names):
        raise AuthorizationError(BAD_SIGNATURE, "InvalidSignatureException")
    declared_hash = request.headers.get("x-amz-content-sha256")
    if declared_hash is not None and declared_hash != hashlib.sha256(request.body).hexdigest():
        raise AuthorizationError(BAD_SIGNATURE, "InvalidSignatureException")
    signer = SigV4Auth(Credentials(access_key, secret_key), SERVICE, region)
    headers = {name: request.headers[name] for name in names}
    signatures: list[str] = []
    for query in dict.fromkeys([request.raw_query, _reencoded(request.raw_query)]):
        url = f"http://{request.host}{request.raw_path}" + (f"?{query}" if query else "")
        rebuilt = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
        rebuilt.context["timestamp"] = timestamp
        canonical_request = signer.canonical_request(rebuilt)
        signatures.append(signer.signature(signer.string_to_sign(rebuilt, canonical_request), rebuilt))
    return signatures


def _reencoded(raw_query: str) -> str:
    """Each name and value decoded, then percent-encoded as SigV4 specifies (RFC 3986 unreserved kept)."""
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    return "&".join(f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in pairs)
