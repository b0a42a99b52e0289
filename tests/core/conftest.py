"""Fixtures for the core: the same storage contract runs against every store (see `store`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from eventstore.dynamodb.store import DynamoEventStore
from eventstore.memory import MemoryEventStore
from eventstore.pagekeys import PageKeySigner
from eventstore.table import create_table

REGION = "us-east-1"
PAGE_KEY_SECRET = b"contract-tests-page-key-secret!!"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def _store(client: object, table: str) -> DynamoEventStore:
    return DynamoEventStore(
        client,  # type: ignore[arg-type]
        table,
        page_keys=PageKeySigner(PAGE_KEY_SECRET),
        listing_settle=timedelta(0),
    )


@pytest.fixture
def moto_store() -> Iterator[DynamoEventStore]:
    """moto in-process (mock_aws)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, "events")
        yield _store(client, "events")


@pytest.fixture
def server_store(moto_server_url: str) -> DynamoEventStore:
    """moto in server mode, over HTTP, as the local runtime and Terraform tests use it."""
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server_url)
    table = f"events-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    return _store(client, table)


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


@pytest.fixture(params=[pytest.param("memory_store", id="memory")])
def fed(request: pytest.FixtureRequest) -> tuple[MemoryEventStore, Callable[[], None]]:
    """Every store with feeds, and what brings its feeds up to date (the memory store's always are)."""
    fixture: MemoryEventStore = request.getfixturevalue(request.param)
    return fixture, lambda: None
