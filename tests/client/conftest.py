from collections.abc import Iterator

import botocore.session
import pytest

from eventstore_client import EventStoreClient, RetryPolicy
from tests.client.fakeserver import ACCESS_KEY, REGION, SECRET_KEY, FakeServer


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def make_client(url: str, secret: str = SECRET_KEY, **kwargs: object) -> EventStoreClient:
    session = botocore.session.Session()
    session.set_credentials(ACCESS_KEY, secret)
    retry = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01, read_timeout=5)
    return EventStoreClient(url, region=REGION, session=session, retry=retry, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(fake: FakeServer) -> Iterator[EventStoreClient]:
    with make_client(fake.url) as store_client:
        yield store_client


@pytest.fixture
def cli_env(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """The CLI reads its URL and credentials from the environment, as a user's shell would give them."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVENTSTORE_URL", fake.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return fake
