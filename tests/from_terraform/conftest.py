"""The end-to-end suite against what Terraform deploys: `python -m local_runtime --from-terraform` applies the
local workspace (env/local.tfvars) to its emulator and serves the stack it reads back, once per session;
the workspace is destroyed before the runtime stops.

Nothing touches the developer's Terraform state or build folder: the module is copied and initialised in
a temporary folder, and the zips are built there for this machine's architecture (the layer's wheels
must load here).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_runtime.testing import LocalStore, launch
from tests.e2e.conftest import store, stream_type, subscribed_queue, target  # noqa: F401 - the suite's fixtures
from tests.terraform.stack import ROOT, Terraform, copy_module, terraform_env

HOST_ARCHITECTURE = "arm64" if platform.machine() in {"aarch64", "arm64"} else "x86_64"
WORKSPACE = "local"


@dataclass(frozen=True, slots=True)
class Deployment:
    terraform: Terraform
    build_dir: Path
    timings: dict[str, float]


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """An initialised copy of terraform/ and a build of the functions for this machine."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    root = tmp_path_factory.mktemp("from-terraform")
    terraform = Terraform(copy_module(root), terraform_env(root / "tf-data"))
    terraform.run("init", "-input=false", "-no-color")
    build_dir = root / "build"
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build.py"),
            "--architecture",
            HOST_ARCHITECTURE,
            "--out",
            str(build_dir),
            "--cache-dir",
            str(ROOT / "build" / "cache"),
        ],
        check=True,
        capture_output=True,
    )
    return Deployment(terraform, build_dir, {"build": time.monotonic() - started})


@pytest.fixture(scope="session")
def local_store(deployment: Deployment) -> Iterator[LocalStore]:
    """The runtime in --from-terraform mode (its start-up includes the apply); destroyed at the end."""
    environment = {name: value for name, value in deployment.terraform.env.items() if name.startswith("TF_")}
    started = time.monotonic()
    with launch(
        require_iam=False,  # AWS_IAM must come from the methods Terraform created
        environment=environment,
        extra_args=[
            "--from-terraform",
            "--workspace",
            WORKSPACE,
            "--terraform-dir",
            str(deployment.terraform.directory),
            "--build-dir",
            str(deployment.build_dir),
        ],
        startup_timeout=600,
    ) as running:
        deployment.timings["start (apply included)"] = time.monotonic() - started
        yield running
        started = time.monotonic()
        destroyed = deployment.terraform.run(
            "destroy",
            "-auto-approve",
            "-refresh=false",  # the state was written by the apply just now
            "-input=false",
            "-no-color",
            "-var-file=env/local.tfvars",
            f"-var=aws_endpoint_url={running.aws_endpoint_url}",
            f"-var=build_dir={deployment.build_dir}",
            f"-var=lambda_architecture={HOST_ARCHITECTURE}",
            check=False,
        )
        deployment.timings["destroy"] = time.monotonic() - started
        sys.stderr.write(f"\nfrom-terraform timings: {deployment.timings}\n")
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
