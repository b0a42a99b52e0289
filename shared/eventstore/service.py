"""Builds what a handler needs once per container (clients, store, telemetry) and runs one invocation."""

from __future__ import annotations

import functools
import os
import random
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, cast

import botocore.session
from botocore.config import Config

from eventstore import observability
from eventstore.config import RetentionSettings, StoreSettings
from eventstore.dynamodb.store import Component, DynamoEventStore

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

    from eventstore import http
    from eventstore.api.requests import Telemetry
    from eventstore.dynamodb.removal import Remover
    from eventstore.erasure import Keyring
    from eventstore.payloadbucket import S3PayloadObjects

# Bounded SDK retries (standard mode backs off with jitter) so a throttled request ends as a 503 well
# inside API Gateway's 29 s integration timeout.
SDK_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)

type Operation[S] = Callable[[S, http.Request, Telemetry], http.Response]
"""An operation of eventstore.api on the store interface it needs (EventStore, FeedStore, SnapshotStore)."""


# Every live client this container created: a SnapStart restore must not reuse their connections. Weak, so
# that tests and the local runtime, which create many, do not keep them all.
_CLIENTS: weakref.WeakSet[BaseClient] = weakref.WeakSet()


@functools.cache
def aws_session() -> botocore.session.Session:
    """The container's one AWS SDK session, as `boto3.client` would use its default session.

    Clients come from botocore directly: importing boto3 also loads s3transfer (and with it
    multiprocessing) and its resource layer, ~40 ms of every cold start that no function uses. boto3 adds
    nothing to DynamoDB, SNS or KMS clients; region, credentials and `AWS_ENDPOINT_URL` resolve the same
    way, moto's `mock_aws` and the X-Ray patch act on botocore.
    """
    return botocore.session.get_session()


def _client(service: str) -> BaseClient:
    client = aws_session().create_client(service, config=SDK_CONFIG)
    _CLIENTS.add(client)
    return client


def dynamodb_client() -> DynamoDBClient:
    return cast("DynamoDBClient", _client("dynamodb"))


def sns_client() -> SNSClient:
    return cast("SNSClient", _client("sns"))


def s3_client() -> S3Client:
    return cast("S3Client", _client("s3"))


def _kms_client() -> KMSClient:
    return cast("KMSClient", _client("kms"))


def _s3_client() -> S3Client:
    return cast("S3Client", _client("s3"))


def payload_bucket() -> S3PayloadObjects:
    """The payload bucket; its S3 client is made on the first large payload, not at init."""
    from eventstore.payloadbucket import PayloadSettings, S3PayloadObjects  # noqa: PLC0415 - bucket users only

    return S3PayloadObjects(_s3_client, PayloadSettings.from_environment().bucket)


def refresh_after_restore() -> None:
    """What a SnapStart restore must not share between the environments restored from one snapshot
    (docs/design.md, "SnapStart"): the standard library's PRNG, whose state was captured at init
    (botocore draws its retry jitter from it), and the connections opened at init (list_streams derives
    its page-key secret from KMS there), which may be long dead by the time of a restore. The clients
    themselves stay: a closed client opens new connections on its next call."""
    random.seed()
    for client in _CLIENTS:
        client.close()


def _register_restore_hook() -> None:
    """Register refresh_after_restore when init runs for a SnapStart snapshot: Lambda then sets
    AWS_LAMBDA_INITIALIZATION_TYPE to `snap-start`, and its Python runtime provides snapshot_restore_py
    and runs the hooks after each restore. Elsewhere (on-demand init, local runtime, tests) nothing is
    restored, so nothing is imported or registered."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    from snapshot_restore_py import register_after_restore  # noqa: PLC0415 - only Lambda's runtime has it

    register_after_restore(refresh_after_restore)


_register_restore_hook()


def keyring(client: DynamoDBClient, *, kms: bool) -> Keyring:
    """The data-subject keys, on the function's one DynamoDB client (another costs ~4 ms of init); with
    `kms`, the key service too (functions that seal or open payloads)."""
    from eventstore.dynamodb.keys import DynamoSubjectKeys  # noqa: PLC0415 - functions with keys only
    from eventstore.erasure import Keyring, KeySettings, KmsKeyService  # noqa: PLC0415

    settings = KeySettings.from_environment(kms=kms)
    service = KmsKeyService(_kms_client, settings.kms_key_id) if settings.kms_key_id is not None else None
    return Keyring(DynamoSubjectKeys(client, settings.table_name), service)


def dynamodb_store(
    client: DynamoDBClient,
    *,
    listing: bool = False,
    keys: Keyring | None = None,
    payloads: S3PayloadObjects | None = None,
    prepare: tuple[Component, ...] = (),
) -> DynamoEventStore:
    """The function's store, with the components its routes use made now (`prepare`), the others never
    (docs/design.md, "Cold start")."""
    settings = StoreSettings.from_environment()
    settle = timedelta(seconds=settings.listing_settle_seconds)
    if not listing:
        retention = RetentionSettings.from_environment().defaults
        return DynamoEventStore(
            client,
            settings.table_name,
            listing_settle=settle,
            keyring=keys,
            payloads=payloads,
            retention=retention,
        ).prepare(*prepare)
    from eventstore.pagekeys import PageKeySettings, PageKeySigner, secret_from_kms  # noqa: PLC0415 - listing only

    page_settings = PageKeySettings.from_environment()
    if page_settings.kms_key_id is not None:
        secret = secret_from_kms(_kms_client(), page_settings.kms_key_id)
    else:
        assert page_settings.secret is not None
        secret = page_settings.secret
    return DynamoEventStore(
        client, settings.table_name, page_keys=PageKeySigner(secret), listing_settle=settle
    ).prepare("listing", *prepare)


def remover() -> Remover:
    """The removal function's Remover: its table, the retention defaults and the optional buckets."""
    from eventstore.archive import ArchiveWriter  # noqa: PLC0415 - only the removal function needs these
    from eventstore.dynamodb.removal import PayloadObjects, RemovalSettings, Remover  # noqa: PLC0415

    settings = RemovalSettings.from_environment()
    defaults = RetentionSettings.from_environment().defaults  # the reads' parse of the same variable
    s3 = s3_client() if settings.archive_bucket or settings.payload_bucket else None
    return Remover(
        dynamodb_client(),
        settings.table_name,
        defaults=defaults,
        archive=(
            ArchiveWriter(s3, settings.archive_bucket, settings.payload_bucket)
            if s3 and settings.archive_bucket
            else None
        ),
        payloads=PayloadObjects(s3, settings.payload_bucket) if s3 and settings.payload_bucket else None,
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
        # Imported here, not at the top: an API function's operations (eventstore.api) have loaded it at
        # init already, and notify_stream, which imports this module too, never needs it (~5 ms of init).
        from eventstore import http  # noqa: PLC0415

        observability.instrument_aws_sdk()
        try:
            response = http.handle(event, self._bound)
        finally:
            self.telemetry.flush()
        observability.log_request(
            method=event.get("httpMethod"), resource=event.get("resource"), status=response["statusCode"]
        )
        return response
