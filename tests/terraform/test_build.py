"""`make build`'s function zips: reproducible wherever they are built, with runtime-ready bytecode."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

from scripts import build

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
