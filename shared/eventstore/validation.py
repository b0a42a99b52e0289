"""Request validation against the schemas of openapi.yaml (exported to contract.json) with jsonschema."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from eventstore.domain import InvalidParam, InvalidRequest


@cache
def _contract() -> dict[str, Any]:
    contract: dict[str, Any] = json.loads(resources.files(__package__).joinpath("contract.json").read_text())
    return contract


@cache
def _validator(schema_name: str) -> jsonschema.Draft7Validator:
    contract = _contract()
    if schema_name not in contract["components"]["schemas"]:
        raise KeyError(f"openapi.yaml has no schema {schema_name}")
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": contract["components"]}
    return jsonschema.Draft7Validator(schema)


def _pointer(prefix: str, path: Any) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/".join([prefix, *parts])


def problems(schema_name: str, instance: Any, prefix: str) -> list[InvalidParam]:
    """Every violation, each named by a JSON pointer under prefix (e.g. /body/events/0/eventType)."""
    errors = sorted(_validator(schema_name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [InvalidParam(_pointer(prefix, _field_path(error)), _reason(error)) for error in errors]


def _field_path(error: Any) -> list[Any]:
    """Point at the offending member itself for missing and unexpected properties, not at its parent."""
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [*path, missing[0]] if missing else path
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = sorted(name for name in error.instance if name not in allowed)
        return [*path, extra[0]] if extra else path
    return path


def _reason(error: Any) -> str:
    if error.validator == "pattern":
        return f"{error.instance!r} does not match the allowed format {error.validator_value!r}"
    if error.validator == "not" and isinstance(error.instance, dict):
        return "principal and requestId are recorded by the server and may not be sent"
    message: str = error.message
    return message


def validate(schema_name: str, instance: Any, prefix: str) -> None:
    found = problems(schema_name, instance, prefix)
    if found:
        raise InvalidRequest(found)
