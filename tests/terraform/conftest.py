"""Fixtures for the Terraform tests: an initialised copy of the module, a moto server, an applied stack.

Nothing touches the developer's own Terraform state: the module is copied to a temporary folder
(with the two definition files it reads), TF_DATA_DIR points there too, and the workspace is a fresh
`test-<random>` one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.support import free_port
from tests.terraform.stack import (
    FUNCTIONS,
    PAGER_TOPIC_ARN,
    PLACEHOLDER_HANDLER,
    REGION,
    ROOT,
    Stack,
    Terraform,
    copy_module,
    terraform_env,
)

# Per type defaults the lifecycle tests (audit, session) and the removal tests (order) read back.
RETENTION = "{audit = {max_count = 3}, session = {max_age_seconds = 60}, order = {max_age_seconds = 86400}}"


@pytest.fixture(scope="session")
def initialised_module(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    """A copy of terraform/ after `terraform init` (offline through the mirror where there is one)."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    root = tmp_path_factory.mktemp("stack")
    terraform = Terraform(copy_module(root), terraform_env(root / "tf-data"))
    # readonly: the committed lock file must already hold what init installs.
    terraform.run("init", "-input=false", "-no-color", "-lockfile=readonly")
    return terraform


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of our own on a free port, stopped at the end of the session."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    env = os.environ | {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("moto server did not start")
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def stack(
    initialised_module: Terraform, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Stack:
    """build → workspace → apply on moto; the destroy test takes it down again."""
    work = tmp_path_factory.mktemp("artifacts")
    functions_dir = work / "functions"
    shutil.copytree(
        ROOT / "functions",
        functions_dir,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    # A snapshot of the layer's sources: the working tree may change while the tests run.
    shared_dir = work / "shared"
    shutil.copytree(ROOT / "shared", shared_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in FUNCTIONS:
        handler = functions_dir / name / "handler.py"
        if not handler.exists():  # another issue may not have written it yet
            handler.parent.mkdir(exist_ok=True)
            handler.write_text(PLACEHOLDER_HANDLER % name)
    workspace = f"test-{uuid.uuid4().hex[:8]}"
    terraform = initialised_module
    terraform.var_args = [
        f"-var=region={REGION}",
        f"-var=aws_endpoint_url={moto_endpoint}",
        f"-var=build_dir={work / 'build'}",
        "-var=deletion_protection=false",
        "-var=kms_deletion_window_days=7",
        "-var=manage_api_gateway_account=true",
        f"-var=alarm_action_topic_arns=[{json.dumps(PAGER_TOPIC_ARN)}]",
        "-var=archive_enabled=true",
        f"-var=stream_type_retention={RETENTION}",
    ]
    stack = Stack(terraform, moto_endpoint, workspace, functions_dir, shared_dir, work / "build", {}, {})
    started = time.monotonic()
    stack.build()
    stack.timings["build"] = time.monotonic() - started
    terraform.run("workspace", "new", workspace, "-no-color")
    started = time.monotonic()
    terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *terraform.var_args)
    stack.timings["apply"] = time.monotonic() - started
    stack.outputs = terraform.outputs()
    return stack
