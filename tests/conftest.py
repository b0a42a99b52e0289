"""Fixtures shared by every test folder."""

from collections.abc import Iterator

import pytest

from local_runtime.testing import LocalStore, launch


@pytest.fixture(scope="session")
def local_store() -> Iterator[LocalStore]:
    """The whole local event store (`python -m local_runtime --require-iam`) on free ports."""
    with launch() as store:
        yield store
