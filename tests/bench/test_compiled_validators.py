"""The validators compiled from contract.json: in sync with it, and of one mind with jsonschema."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eventstore import validation
from scripts.compile_validators import COMPILED, render

ROOT = Path(__file__).resolve().parents[2]
REQUEST_SCHEMAS = ("CreateStreamRequest", "AppendEventRequest", "AppendEventsRequest", "TypeName", "StreamId")


def test_the_compiled_validators_are_generated_from_contract_json() -> None:
    assert COMPILED.read_text() == render(), "run: .venv/bin/python scripts/compile_validators.py"


def _jsonschema_accepts(schema_name: str, instance: Any) -> bool:
    contract = validation._contract()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": contract["components"]}
    valid: bool = jsonschema.Draft7Validator(schema).is_valid(instance)
    return valid


# Values near the schemas' edges: valid and invalid type names and ids, revisions, trailing newlines.
_texts = st.one_of(
    st.text(max_size=6),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.sampled_from(
        [
            "any",
            "Order.Placed",
            "order_v2:created-1",
            "a\n",
            "-leading",
            "",
            "A" * 128,
            "A" * 129,
            "6f1c2b7a-8e11-4c4e-9f39-9b3d4f0e5c2a\n",
            "x" * 257,
        ]
    ),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=10**12),
    st.sampled_from([0.0, 1.0, -1.0, 2.5]),
    _texts,
)
_names = st.sampled_from(
    [
        *(
            "event",
            "events",
            "expectedRevision",
            "initialEvent",
            "streamId",
            "eventType",
            "eventId",
            "payload",
        ),
        *("metadata", "principal", "requestId", "correlationId", "causationId", "other"),
    ]
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_names, inner, max_size=4)),
    max_leaves=12,
)
_metadata = st.one_of(st.dictionaries(_names, _scalars, max_size=3), _json)
_event = st.fixed_dictionaries(
    {"eventType": _texts},
    optional={"eventId": _texts, "payload": _json, "metadata": _metadata, "other": _json},
)
_events = st.lists(st.one_of(_event, _json), max_size=3)
_requests = st.fixed_dictionaries(
    {},
    optional={
        "event": st.one_of(_event, _json),
        "events": _events,
        "initialEvent": st.one_of(_event, _json),
        "expectedRevision": _scalars,
        "streamId": _texts,
        "other": _json,
    },
)

_VALID_EVENT = {"eventType": "Happened", "eventId": str(uuid.UUID(int=1)), "payload": {"a": [1]}}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(REQUEST_SCHEMAS), st.one_of(_requests, _json, _texts))
@example("AppendEventsRequest", {"expectedRevision": 3, "events": [_VALID_EVENT] * 100})
@example("AppendEventsRequest", {"expectedRevision": "any", "events": [_VALID_EVENT] * 101})
@example("AppendEventsRequest", {"expectedRevision": 1.0, "events": [_VALID_EVENT]})
@example("AppendEventRequest", {"event": {"eventType": "T", "metadata": {"principal": "me"}}})
@example("CreateStreamRequest", {"initialEvent": {"eventType": "T", "metadata": {"correlationId": ""}}})
@example("TypeName", "order\n")
def test_the_compiled_validator_accepts_exactly_what_jsonschema_accepts(
    schema_name: str, instance: Any
) -> None:
    assert validation.accepts(schema_name, instance) == _jsonschema_accepts(schema_name, instance)


def test_a_valid_request_does_not_import_jsonschema_and_a_rejected_one_does() -> None:
    """The point of compiling: jsonschema's import stays out of the cold start of a valid request."""
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, "shared")
        from eventstore import validation
        from eventstore.domain import InvalidRequest
        validation.validate("AppendEventRequest", {"event": {"eventType": "Happened"}}, "/body")
        print("jsonschema" in sys.modules)
        try:
            validation.validate("AppendEventRequest", {"event": {}}, "/body")
        except InvalidRequest as error:
            print("jsonschema" in sys.modules, [p.name for p in error.params])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["False", "True ['/body/event/eventType']"]
