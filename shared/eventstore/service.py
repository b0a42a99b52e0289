"""Builds what a handler needs once per container (clients, store, telemetry) and runs one invocation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, cast

import botocore.session
from botocore.config import Config

from eventstore import http, observability
from eventstore.config import KeySettings, PageKeySettings, StoreSettings
from eventstore.dynamodb.keys import DynamoSubjectKeys
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.erasure import Keyring, KmsKeyService
from eventstore.pagekeys import PageKeySigner, secret_from_kms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sns import SNSClient

    from eventstore.api import Telemetry

# Bounded SDK retries (standard mode backs off with jitter) so a throttled request ends as a 503 well
# inside API Gateway's 29 s integration timeout.
SDK_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)

type Operation[S] = Callable[[S, http.Request, Telemetry], http.Response]
"""An operation of api.py on the store interface it needs (EventStore, FeedStore)."""


@functools.cache
def aws_session() -> botocore.session.Session:
    """The container's one AWS SDK session, as `boto3.client` would use its default session.

    Clients come from botocore directly: importing boto3 also loads s3transfer (and with it
    multiprocessing) and its resource layer, ~40 ms of every cold start that no function uses. boto3 adds
    nothing to DynamoDB, SNS or KMS clients; region, credentials and `AWS_ENDPOINT_URL` resolve the same
    way, moto's `mock_aws` and the X-Ray patch act on botocore.
    """
    return botocore.session.get_session()


def dynamodb_client() -> DynamoDBClient:
    return cast("DynamoDBClient", aws_session().create_client("dynamodb", config=SDK_CONFIG))


def sns_client() -> SNSClient:
    return cast("SNSClient", aws_session().create_client("sns", config=SDK_CONFIG))


def _kms_client() -> KMSClient:
    return cast("KMSClient", aws_session().create_client("kms", config=SDK_CONFIG))


def keyring(*, kms: bool) -> Keyring:
    """The data-subject keys; with `kms`, the key service too (functions that seal or open payloads)."""
    settings = KeySettings.from_environment(kms=kms)
    service = KmsKeyService(_kms_client, settings.kms_key_id) if settings.kms_key_id is not None else None
    return Keyring(DynamoSubjectKeys(dynamodb_client(), settings.table_name), service)


def dynamodb_store(*, listing: bool = False, keys: Keyring | None = None) -> DynamoEventStore:
    settings = StoreSettings.from_environment()
    client = dynamodb_client()
    settle = timedelta(seconds=settings.listing_settle_seconds)
    if not listing:
        return DynamoEventStore(client, settings.table_name, listing_settle=settle, keyring=keys)
    page_settings = PageKeySettings.from_environment()
    if page_settings.kms_key_id is not None:
        secret = secret_from_kms(_kms_client(), page_settings.kms_key_id)
    else:
        assert page_settings.secret is not None
        secret = page_settings.secret
    return DynamoEventStore(
        client, settings.table_name, page_keys=PageKeySigner(secret), listing_settle=settle
    )


class ApiService[S]:
    """One Lambda and the operations its routes name: the store and telemetry live for the container, a
    request for an invocation."""

    def __init__(
        self,
        store: S,
        operations: Mapping[str, Operation[S]],
        telemetry: observability.Telemetry | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry or observability.Telemetry()
        self._bound = {name: self._bind(operation) for name, operation in operations.items()}

    def _bind(self, operation: Operation[S]) -> Callable[[http.Request], http.Response]:
        return lambda request: operation(self.store, request, self.telemetry)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        observability.instrument_aws_sdk()
        try:
            response = http.handle(event, self._bound)
        finally:
            self.telemetry.flush()
        observability.log_request(
            method=event.get("httpMethod"), resource=event.get("resource"), status=response["statusCode"]
        )
        return response
