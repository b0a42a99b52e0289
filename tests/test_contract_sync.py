"""openapi.yaml is the one place the contract is written: the layer's contract.json must match it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from scripts.export_contract import CONTRACT, render

ROOT = Path(__file__).resolve().parent.parent


def test_contract_json_is_generated_from_openapi_yaml() -> None:
    assert CONTRACT.read_text() == render(), "run: .venv/bin/python scripts/export_contract.py"


def test_every_route_is_documented_in_openapi_yaml_under_its_operation() -> None:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    routes = json.loads((ROOT / "shared" / "eventstore" / "routes.json").read_text())["routes"]
    documented = {
        (method.upper(), path, operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert {(r["method"], r["path"], r["operation"]) for r in routes} == documented
    for route in routes:
        assert (ROOT / "functions" / route["function"] / "handler.py").is_file()
