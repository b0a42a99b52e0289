"""The contract, fuzzed: schemathesis sends signed requests generated from openapi.yaml to the local store.

Positive mode (schema-valid input) must never get a 4xx except the answers that depend on the store's
state or on secrets a generator cannot know (listed in `_legitimate_refusal`); negative mode
(schema-invalid input) must always get a 4xx problem. Every answer must be documented in openapi.yaml:
status, content type and body schema; no answer may be a 5xx.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from local_runtime.testing import LocalStore, launch
from tests.support import ROOT

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION: Final = 90
"""For 10 operations in 2 modes and the liveness check: ~1,800 requests, 75-130 s on 2 busy cores."""
MIN_REQUESTS_PER_MODE: Final = 500

CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
PROBLEM: Final = "urn:eventstore:problem:"
_POSITION_PARAMS: Final = frozenset({"/query/after-position", "/body/position", "/body/expectedPosition"})
_GROUP_PARAMS: Final = frozenset({"/query/consumer-group-member", "/query/consumer-group-size"})


class _SigV4(requests.auth.AuthBase):
    """Signs each request exactly as it is sent (method, URL, headers, body) for execute-api."""

    def __init__(self, store: LocalStore) -> None:
        self._credentials = Credentials(store.access_key, store.secret_key)
        self._region = store.region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        SigV4Auth(self._credentials, "execute-api", self._region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


@pytest.fixture(scope="module")
def fuzzed_store() -> Iterator[LocalStore]:
    """A store of its own: the generated streams (any type name) must not show in other tests' listings."""
    with launch() as store:
        yield store


@pytest.fixture(scope="module")
def session(fuzzed_store: LocalStore) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.auth = _SigV4(fuzzed_store)
        yield http


def _legitimate_refusal(status: int, problem: dict[str, Any]) -> bool:
    """A 4xx that valid input can get: the answer depends on the store's state or on a secret.

    Generated stream ids and data subjects name ones that do not exist (404), generated event ids and
    stream ids collide with earlier examples (409, 422), a generated data subject may have been erased by
    an earlier example (410), and generated page keys were not issued by this store
    (400 naming only the page key, under either of its names; two different keys are refused too);
    likewise generated feed positions (400 naming only the position), checkpoints that do not exist or
    are elsewhere (404, 409), snapshots that do not exist, are newer or are past their stream's revision
    (404, 409), a consumer-group member without its size or not below it (400), a stream an earlier
    example tombstoned (410) and metadata an earlier example changed (409).
    Nothing else: every other 4xx for valid input is a contract bug.
    """
    kind = str(problem.get("type", "")).removeprefix(PROBLEM)
    if (status, kind) in {
        (404, "stream-not-found"),
        (404, "data-subject-not-found"),
        (409, "wrong-expected-revision"),
        (410, "data-subject-erased"),
        (409, "stream-already-exists"),
        (422, "event-id-conflict"),
        (404, "checkpoint-not-found"),
        (409, "checkpoint-conflict"),
        (404, "snapshot-not-found"),
        (409, "snapshot-conflict"),
        (409, "snapshot-beyond-revision"),
        (410, "stream-deleted"),
        (409, "metadata-conflict"),
    }:
        return True
    names = [p.get("name") for p in problem.get("invalid-params", [])]
    if status == 400 and names in (["/query/stream-next-page-key"], ["/query/nextPageKey"]):
        return True
    # Feed positions are opaque: a generated one is no position this store issued (for this feed).
    if status == 400 and names and set(names) <= _POSITION_PARAMS:
        return True
    # A consumer-group member goes with its size and below it, which JSON Schema cannot say of two params.
    if status == 400 and names and set(names) <= _GROUP_PARAMS:
        return True
    # Event ids must differ within one request, which JSON Schema cannot say about object members.
    return (
        status == 400
        and bool(names)
        and all(
            str(n).endswith("/eventId") and "earlier event" in str(p.get("reason"))
            for n, p in zip(names, problem["invalid-params"], strict=True)
        )
    )


def _fuzz(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    store: LocalStore,
    session: requests.Session,
    seen: Counter[tuple[str, int]],
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=store.api_url, session=session)
        seen[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)
        if mode is GenerationMode.POSITIVE and 400 <= response.status_code < 500:
            problem = json.loads(response.content)
            assert _legitimate_refusal(response.status_code, problem), (
                f"valid input refused: {operation.label} {response.status_code} {problem}"
            )

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_the_store_answers_generated_requests_as_the_contract_says(
    fuzzed_store: LocalStore, session: requests.Session, mode: GenerationMode
) -> None:
    # The signature is added to each request as sent (_SigV4); the generator leaves Authorization alone.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=config)
    seen: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.path == "/liveness-check":
            continue  # the liveness check has no inputs to make invalid
        _fuzz(operation, mode, fuzzed_store, session, seen)
    assert sum(seen.values()) >= MIN_REQUESTS_PER_MODE, seen
