"""SigV4 verification of API requests against botocore-signed requests."""

import datetime as dt

import pytest
from botocore.credentials import Credentials

from eventstore_client._transport import sign_request
from local_runtime.sigv4 import BAD_SIGNATURE, UNKNOWN_KEY, AuthorizationError, SignedRequest, verify

KEYS = {"test": "test"}
HOST = "127.0.0.1:8000"


def _signed(
    method: str = "PUT",
    path: str = "/streams/order/a%20b/events/2",
    query: str = "x=1&y=a%2Fb",
    body: bytes = b'{"event":{}}',
    *,
    secret: str = "test",  # noqa: S107 - the emulator's credentials
    region: str = "us-east-1",
    service: str = "execute-api",
    token: str | None = None,
) -> SignedRequest:
    url = f"http://{HOST}{path}?{query}"
    sent = sign_request(
        method,
        url,
        body,
        {"Content-Type": "application/json"},
        credentials=Credentials("test", secret, token),
        region=region,
        service=service,
    )
    headers = {name.lower(): value for name, value in sent.items()} | {"host": HOST}
    return SignedRequest(method, HOST, path, query, headers, body)


def test_a_botocore_signed_request_verifies_with_its_identity() -> None:
    identity = verify(_signed(token="session-token"), KEYS, "us-east-1")
    assert identity is not None
    assert identity.access_key == "test"
    assert identity.session_token == "session-token"
    assert identity.user_arn == "arn:aws:iam::123456789012:user/test"


def test_the_query_is_canonicalized_as_aws_does() -> None:
    signed = _signed(query="a=x~y&b=2&c=")

    def with_query(query: str) -> SignedRequest:
        return SignedRequest(signed.method, HOST, signed.raw_path, query, signed.headers, signed.body)

    # The same parameters, encoded differently and in another order, carry the same signature.
    assert verify(with_query("c&b=2&a=x%7Ey"), KEYS, "us-east-1") is not None
    assert _rejection(with_query("c&b=3&a=x%7Ey")) == BAD_SIGNATURE


def test_unsigned_request_has_no_identity() -> None:
    request = SignedRequest("GET", HOST, "/liveness-check", "", {"host": HOST}, b"")
    assert verify(request, KEYS, "us-east-1") is None


def _rejection(request: SignedRequest, now: dt.datetime | None = None) -> str:
    with pytest.raises(AuthorizationError) as caught:
        verify(request, KEYS, "us-east-1", now)
    return caught.value.message


def test_tampered_body_path_query_or_secret_is_rejected() -> None:
    good = _signed()
    tampered = [
        SignedRequest(good.method, HOST, good.raw_path, good.raw_query, good.headers, b'{"event":{"x":1}}'),
        SignedRequest(
            good.method, HOST, "/streams/order/other/events/2", good.raw_query, good.headers, good.body
        ),
        SignedRequest(good.method, HOST, good.raw_path, "x=2&y=a%2Fb", good.headers, good.body),
        SignedRequest("POST", HOST, good.raw_path, good.raw_query, good.headers, good.body),
        _signed(secret="wrong"),
    ]
    for request in tampered:
        assert _rejection(request) == BAD_SIGNATURE


def test_unknown_key_wrong_scope_and_stale_date_are_rejected() -> None:
    unknown = _signed()
    headers = dict(unknown.headers)
    headers["authorization"] = headers["authorization"].replace("Credential=test/", "Credential=someone/")
    assert _rejection(
        SignedRequest("PUT", HOST, unknown.raw_path, unknown.raw_query, headers, unknown.body)
    ) == (UNKNOWN_KEY)
    assert "region" in _rejection(_signed(region="eu-west-1"))
    assert "service" in _rejection(_signed(service="dynamodb"))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert _rejection(_signed(), later).startswith("Signature expired")
