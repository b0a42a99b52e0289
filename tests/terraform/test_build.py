"""`make build`'s function zips: reproducible wherever they are built, with runtime-ready bytecode."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts import build

ROOT = Path(__file__).resolve().parents[2]

HANDLER = "def handler(event, context):\n    return {'statusCode': 200}\n"


def make_function(root: Path) -> Path:
    source = root / "functions" / "liveness_check"
    source.mkdir(parents=True)
    (source / "handler.py").write_text(HANDLER)
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "stale.cpython-313.pyc").write_bytes(b"stale")
    return source


def test_function_zip_is_identical_wherever_it_is_built(tmp_path: Path) -> None:
    interpreter = Path(sys.executable)
    first = build.build_function(make_function(tmp_path / "a"), tmp_path / "out-a", interpreter)
    second = build.build_function(make_function(tmp_path / "b"), tmp_path / "out-b", interpreter)
    assert first == second
    zip_path = tmp_path / "out-a" / "functions" / "liveness_check.zip"
    assert first == hashlib.sha256(zip_path.read_bytes()).hexdigest()


def test_function_zip_has_fixed_metadata_and_unchecked_hash_bytecode(tmp_path: Path) -> None:
    build.build_function(make_function(tmp_path), tmp_path / "out", Path(sys.executable))
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(tmp_path / "out" / "functions" / "liveness_check.zip") as archive:
        infos = archive.infolist()
        assert [info.filename for info in infos] == [f"__pycache__/handler.{tag}.pyc", "handler.py"]
        assert {info.date_time for info in infos} == {build.ZIP_EPOCH}
        assert {info.external_attr for info in infos} == {build.FILE_MODE}
        pyc = archive.read(f"__pycache__/handler.{tag}.pyc")
    flags = int.from_bytes(pyc[4:8], "little")
    assert flags == 0b01, "hash-based and unchecked: the runtime never stats or rewrites it"
    assert b"/var/task/handler.py" in pyc, "tracebacks name the file where Lambda has it"


@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_target_maps_architecture_to_lambda_wheel_platform(architecture: str) -> None:
    platform = build.Target(architecture=architecture, python_version="3.13").platform
    assert platform.startswith("manylinux2014_")
    assert platform.endswith("aarch64" if architecture == "arm64" else "x86_64")


def test_build_fails_rather_than_ship_zips_without_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_function(tmp_path)
    monkeypatch.setattr(build, "python_for", lambda _version: None)
    out = tmp_path / "out"
    assert build.main(["--out", str(out), "--functions-dir", str(tmp_path / "functions")]) == 1
    assert not (out / "manifest.json").exists()
    assert not (out / "functions").exists()


def test_sbom_names_every_distribution_and_the_layer_digest(tmp_path: Path) -> None:
    dependencies = tmp_path / "deps"
    for name, version in (("Jsonschema", "4.26.0"), ("aws-xray-sdk", "2.15.0")):
        info = dependencies / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    digest = "ab" * 32
    build.write_sbom(dependencies, digest, tmp_path / "layer.sbom.json")
    sbom = json.loads((tmp_path / "layer.sbom.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert {(c["name"], c["version"], c["purl"]) for c in sbom["components"]} == {
        ("aws-xray-sdk", "2.15.0", "pkg:pypi/aws-xray-sdk@2.15.0"),
        ("Jsonschema", "4.26.0", "pkg:pypi/jsonschema@4.26.0"),
    }
    assert sbom["metadata"]["component"]["hashes"] == [{"alg": "SHA-256", "content": digest}]


def test_layer_lock_pins_every_dependency_with_hashes() -> None:
    """requirements/layer.txt is layer.in resolved (`make lock`): every package exactly pinned, each
    with its hashes (pip then refuses anything unpinned or altered), the direct pins unchanged."""
    lock = (ROOT / "requirements" / "layer.txt").read_text()
    entries = re.findall(
        # A version may carry an environment marker (cffi, pycparser: `; platform_python_implementation ...`).
        r"^(\S+)==(\S+)(?: ;[^\\\n]*)? \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
        lock,
        re.MULTILINE,
    )
    requirement_lines = [line for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(entries) == len(requirement_lines) > 4
    pinned = {canonicalize_name(name): version for name, version, _ in entries}
    for line in (ROOT / "requirements" / "layer.in").read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            assert pinned[canonicalize_name(requirement.name)] in requirement.specifier, line
