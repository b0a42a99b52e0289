"""Fixtures shared by every test folder."""

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from local_runtime.testing import LocalStore, launch
from tests.support import free_port


@pytest.fixture(scope="session")
def local_store() -> Iterator[LocalStore]:
    """The whole local event store (`python -m local_runtime --require-iam`) on free ports."""
    with launch() as store:
        yield store


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """moto in server mode on a free port (the store's contract tests, the CLI's SQS tests)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
