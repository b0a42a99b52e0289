"""Fixtures for the core: the same storage contract runs against every store (see `store`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from eventstore.commits import Commit, decode_commit
from eventstore.dynamodb.keys import DynamoSubjectKeys, create_keys_table
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.erasure import Keyring, KmsKeyService
from eventstore.feedwriter import FeedWriter
from eventstore.memory import MemoryEventStore
from eventstore.pagekeys import PageKeySigner
from eventstore.payloadbucket import S3PayloadObjects
from eventstore.table import create_table
from tests.support import AWS_TEST_REGION, aws_credentials, one_request_at_a_time  # noqa: F401 - the fixture: autouse here

REGION = AWS_TEST_REGION
PAGE_KEY_SECRET = b"contract-tests-page-key-secret!!"


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 all-types items: feeds of a few appends already read through block indexes, their gaps
    and the open block."""
    monkeypatch.setattr("eventstore.feeds.BLOCK_ITEMS", 2)


def _store(
    client: object, table: str, keyring: Keyring | None = None, endpoint_url: str | None = None
) -> DynamoEventStore:
    return DynamoEventStore(
        client,  # type: ignore[arg-type]
        table,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
        keyring=keyring,
        payloads=moto_bucket(endpoint_url, f"payloads-{table}"),
    )


def moto_bucket(endpoint_url: str | None, bucket: str) -> S3PayloadObjects:
    """The payload bucket in moto's S3."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    s3.create_bucket(Bucket=bucket)
    return S3PayloadObjects(lambda: s3, bucket)


def moto_keyring(endpoint_url: str | None, keys_table: str) -> Keyring:
    """A keyring on moto: the keys table (created here) and a customer managed key in moto's KMS."""
    dynamodb = one_request_at_a_time(boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint_url))
    kms = boto3.client("kms", region_name=REGION, endpoint_url=endpoint_url)
    create_keys_table(dynamodb, keys_table)
    key_id = kms.create_key(Description="data keys")["KeyMetadata"]["KeyId"]
    return Keyring(DynamoSubjectKeys(dynamodb, keys_table), KmsKeyService(lambda: kms, key_id))


@pytest.fixture
def moto_store() -> Iterator[DynamoEventStore]:
    """moto in-process (mock_aws), with moto's KMS for data keys."""
    with mock_aws():
        client = one_request_at_a_time(boto3.client("dynamodb", region_name=REGION))
        create_table(client, "events")
        yield _store(client, "events", moto_keyring(None, "keys"), None)


@pytest.fixture
def server_store(moto_server_url: str) -> DynamoEventStore:
    """moto in server mode, over HTTP, as the local runtime and Terraform tests use it."""
    client = one_request_at_a_time(boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server_url))
    table = f"events-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    return _store(client, table, moto_keyring(moto_server_url, f"keys-{table}"), moto_server_url)


@pytest.fixture
def memory_store() -> MemoryEventStore:
    """The in-memory reference store."""
    return MemoryEventStore(page_keys=PageKeySigner(PAGE_KEY_SECRET))


@pytest.fixture(
    params=[
        pytest.param("memory_store", id="memory"),
        pytest.param("moto_store", id="moto"),
        pytest.param("server_store", id="moto-server"),
    ]
)
def store(request: pytest.FixtureRequest) -> DynamoEventStore | MemoryEventStore:
    """Every store the storage contract must hold on."""
    fixture: DynamoEventStore | MemoryEventStore = request.getfixturevalue(request.param)
    return fixture


def run_feed_writer(store: DynamoEventStore) -> None:
    """What notify_stream does for the feeds, over every commit in the table at once (as one batch)."""
    commits: dict[str, list[Commit]] = {}
    for page in store.table.client.get_paginator("scan").paginate(TableName=store.table.name):
        for item in page["Items"]:
            if int(item["revision"]["N"]) >= 1 and "digest" in item:
                commit = decode_commit(item)
                commits.setdefault(commit.stream_id, []).append(commit)
    for stream in commits.values():
        stream.sort(key=lambda c: c.first_revision)
    writer = FeedWriter(store)
    writer.finish(writer.feed(list(commits), lambda _: commits))


@pytest.fixture(
    params=[
        pytest.param("memory_store", id="memory"),
        pytest.param("moto_store", id="moto"),
        pytest.param("server_store", id="moto-server"),
    ]
)
def fed(request: pytest.FixtureRequest) -> tuple[DynamoEventStore | MemoryEventStore, Callable[[], None]]:
    """Every store with feeds, and what brings its feeds up to date: the memory store's always are, the
    DynamoDB store's once the feed writer has run over its commits (as notify_stream does)."""
    fixture: DynamoEventStore | MemoryEventStore = request.getfixturevalue(request.param)
    if isinstance(fixture, DynamoEventStore):
        return fixture, lambda: run_feed_writer(fixture)
    return fixture, lambda: None
