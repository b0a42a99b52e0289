"""Build the Lambda artifacts: one zip per `functions/<name>/` and the shared layer zip.

The zips are reproducible (sorted entries, fixed timestamps and modes, `.pyc` with unchecked-hash
invalidation and the Lambda's paths as their file names), so an unchanged function keeps its hash and
Terraform does not redeploy it. The `.pyc` need a Python of the runtime's version: without one the build
fails. The layer's dependencies (`requirements/layer.txt`, every one pinned with its hashes) are
installed as wheels for the Lambda platform (pip checks every hash) and cached under `<out>/cache/`,
keyed by the requirements, the platform and the Python version. `<out>/layer.sbom.json` is the layer's
software bill of materials (CycloneDX): every distribution the layer ships, with its version.

    python scripts/build.py [--architecture arm64|x86_64] [--python-version 3.13] [--out build]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot4
from packageurl import PackageURL

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
# Bump when the layout or the zip format changes, so cached layer zips are rebuilt.
FORMAT_VERSION = 2
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "tests"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# Where Lambda puts the code: the names compiled into the .pyc files (they show up in tracebacks).
FUNCTION_ROOT = "/var/task"
LAYER_ROOT = "/opt"
# Compiles every .py under a folder to unchecked-hash .pyc; run by the runtime's own Python.
COMPILE_SCRIPT = """
import compileall, py_compile, re, sys
root, prefix = sys.argv[1], sys.argv[2]
ok = compileall.compile_dir(
    root, quiet=2, workers=1, rx=re.compile(r"/(tests?|__pycache__)/"),
    stripdir=root, prependdir=prefix,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
sys.exit(0 if ok else 1)
"""


@dataclass(frozen=True)
class Target:
    """The Lambda platform the artifacts are built for."""

    architecture: str
    python_version: str

    @property
    def platform(self) -> str:
        return PLATFORMS[self.architecture]


def python_for(version: str) -> Path | None:
    """A local interpreter of the runtime's version (to compile matching .pyc), or None."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return Path(sys.executable)
    found = shutil.which(f"python{version}")
    if found is None:
        script = ROOT / "scripts" / "find_python.sh"
        result = subprocess.run([str(script)], capture_output=True, text=True, check=False)  # noqa: S603
        found = result.stdout.strip() or None
    if found is None:
        return None
    probe = subprocess.run(  # noqa: S603
        [found, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=False,
    )
    return Path(found) if probe.stdout.strip() == version else None


def compile_tree(root: Path, prefix: str, interpreter: Path) -> None:
    """Write `__pycache__/*.cpython-3XX.pyc` next to every module under `root`."""
    subprocess.run([str(interpreter), "-c", COMPILE_SCRIPT, str(root), prefix], check=True)  # noqa: S603


def copy_sources(source: Path, destination: Path) -> None:
    """Copy a source folder without caches, tests or stale bytecode."""

    def ignore(_directory: str, names: list[str]) -> set[str]:
        return {name for name in names if name in SKIPPED_DIRS or Path(name).suffix in SKIPPED_SUFFIXES}

    shutil.copytree(source, destination, ignore=ignore, dirs_exist_ok=True)


def write_zip(source: Path, zip_path: Path) -> str:
    """Zip a folder reproducibly and return the zip's SHA-256 (hex)."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    # Sorted by the names in the archive (plain string order), so the entry order is the same everywhere.
    files = sorted(
        (path for path in source.rglob("*") if path.is_file()), key=lambda p: p.relative_to(source).as_posix()
    )
    partial = zip_path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    partial.replace(zip_path)
    return hashlib.sha256(zip_path.read_bytes()).hexdigest()


def dependency_cache(requirements: Path, target: Target, cache_root: Path, interpreter: Path) -> Path:
    """Install the layer's requirements for the Lambda platform once per (requirements, platform)."""
    key = hashlib.sha256(
        b"\0".join(
            [requirements.read_bytes(), target.platform.encode(), target.python_version.encode(), b"v1"]
        )
    ).hexdigest()[:16]
    cached = cache_root / f"layer-{target.architecture}-py{target.python_version}-{key}"
    if (cached / ".complete").exists():
        return cached
    shutil.rmtree(cached, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="layer-deps-", dir=cache_root))
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--require-hashes",
            "--platform",
            target.platform,
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            target.python_version,
            "--target",
            str(work),
            "--requirement",
            str(requirements),
        ],
        check=True,
    )
    # Executables pip generates hold the build machine's interpreter path; a layer needs none.
    shutil.rmtree(work / "bin", ignore_errors=True)
    compile_tree(work, f"{LAYER_ROOT}/python", interpreter)
    (work / ".complete").write_text(json.dumps({"platform": target.platform}) + "\n")
    work.replace(cached)
    return cached


def build_function(source: Path, out: Path, interpreter: Path) -> str:
    with tempfile.TemporaryDirectory(prefix=f"fn-{source.name}-") as staging:
        root = Path(staging)
        copy_sources(source, root)
        compile_tree(root, FUNCTION_ROOT, interpreter)
        return write_zip(root, out / "functions" / f"{source.name}.zip")


def source_files(root: Path) -> list[Path]:
    """The files copy_sources would copy, sorted."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in SKIPPED_SUFFIXES
        and not SKIPPED_DIRS.intersection(path.relative_to(root).parts)
    )


def layer_inputs_digest(shared: Path, dependencies: Path, interpreter: Path) -> str:
    """Everything the layer zip is made of: unchanged inputs mean an identical zip."""
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{dependencies.name}\0{interpreter}\0".encode())
    for path in source_files(shared):
        digest.update(path.relative_to(shared).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_layer(
    shared: Path, requirements: Path, target: Target, *, out: Path, cache: Path, interpreter: Path
) -> str:
    dependencies = dependency_cache(requirements, target, cache, interpreter)
    zip_path = out / "layer.zip"
    inputs = out / "layer.inputs"
    digest = layer_inputs_digest(shared, dependencies, interpreter)
    # Zipping the dependencies takes seconds; skip it when nothing that goes into the layer changed.
    if zip_path.exists() and inputs.exists() and inputs.read_text().strip() == digest:
        layer = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        write_sbom(dependencies, layer, out / "layer.sbom.json")
        return layer
    with tempfile.TemporaryDirectory(prefix="layer-") as staging:
        python = Path(staging) / "python"
        shutil.copytree(dependencies, python, ignore=shutil.ignore_patterns(".complete"))
        for package in sorted(path for path in shared.iterdir() if path.is_dir()):
            if package.name in SKIPPED_DIRS or package.name.startswith("."):
                continue
            copy_sources(package, python / package.name)
            compile_tree(python / package.name, f"{LAYER_ROOT}/python/{package.name}", interpreter)
        layer = write_zip(Path(staging), zip_path)
    write_sbom(dependencies, layer, out / "layer.sbom.json")
    inputs.write_text(digest + "\n")
    return layer


def write_sbom(dependencies: Path, layer_digest: str, path: Path) -> None:
    """The layer's CycloneDX bill of materials: the layer zip (by its SHA-256) and every distribution
    installed into it, as the wheels' own metadata names them."""
    components = [
        Component(
            name=dist.metadata["Name"],
            version=dist.version,
            type=ComponentType.LIBRARY,
            purl=PackageURL(type="pypi", name=dist.metadata["Name"].lower(), version=dist.version),
            bom_ref=f"pkg:pypi/{dist.metadata['Name'].lower()}@{dist.version}",
        )
        for dist in sorted(
            importlib.metadata.distributions(path=[str(dependencies)]),
            key=lambda d: d.metadata["Name"].lower(),
        )
    ]
    layer = Component(
        name="eventstore-layer",
        version=layer_digest[:12],
        type=ComponentType.LIBRARY,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=layer_digest)],
        bom_ref="eventstore-layer",
    )
    bom = Bom(components=components, metadata=BomMetaData(component=layer))
    bom.register_dependency(layer, components)
    path.write_text(JsonV1Dot4(bom).output_as_string(indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--functions-dir", type=Path, default=ROOT / "functions")
    parser.add_argument("--shared-dir", type=Path, default=ROOT / "shared")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements" / "layer.txt")
    parser.add_argument("--cache-dir", type=Path, default=None, help="pip cache of the layer (<out>/cache)")
    args = parser.parse_args(argv)
    target = Target(architecture=args.architecture, python_version=args.python_version)
    out: Path = args.out.resolve()
    cache: Path = (args.cache_dir or out / "cache").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    interpreter = python_for(target.python_version)
    if interpreter is None:
        # Zips without .pyc would compile on every cold start (and differ from CI's): refuse instead.
        print(
            f"build: Python {target.python_version} is needed to compile the zips' .pyc; none found",
            file=sys.stderr,
        )
        return 1

    functions_dir: Path = args.functions_dir
    names = sorted(
        path.name
        for path in functions_dir.iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name not in SKIPPED_DIRS
    )
    hashes = {name: build_function(functions_dir / name, out, interpreter) for name in names}
    # Zips of functions that no longer exist would otherwise linger in build/.
    for name in {path.stem for path in (out / "functions").glob("*.zip")} - set(names):
        (out / "functions" / f"{name}.zip").unlink()
    layer = build_layer(
        args.shared_dir, args.requirements, target, out=out, cache=cache, interpreter=interpreter
    )
    manifest = {
        "architecture": target.architecture,
        "python_version": target.python_version,
        "functions": hashes,
        "layer": layer,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for name, digest in sorted(hashes.items()):
        print(f"build: functions/{name}.zip {digest[:12]}")
    print(f"build: layer.zip {layer[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
