"""`make run` installs only requirements/run.txt: everything the running store imports must come from it."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local_runtime import REPO_ROOT

if TYPE_CHECKING:
    from pathlib import Path

# Starts the store in-process, drives every route's handler and a notification through SNS to the demo
# queue, then prints the top-level modules it imported.
_EXERCISE = """
import json, os, sys, time
import boto3
from local_runtime.runtime import start
from local_runtime.settings import Settings
from local_runtime.testing import SignedHttp

store = start(Settings(api_port=0, emulator_port=0, require_iam=True))
api = SignedHttp(store.api_url, region=store.region, access_key=store.access_key, secret_key=store.secret_key)
created = api.request("POST", "/streams/order", {"initialEvent": {"eventType": "placed"}})
base = f"/streams/order/{created.json()['stream']['streamId']}"
statuses = [
    created.status,
    api.request("POST", base + "/events", {"expectedRevision": 1, "events": [{"eventType": "paid"}]}).status,
    api.request("GET", base + "/events").status,
    api.request("GET", base + "/details").status,
    api.request("GET", "/streams/order").status,
    api.request("GET", "/liveness-check").status,
    api.request("GET", "/openapi.json", sign=False).status,
    api.request("POST", base + "/events", {"expectedRevision": 2, "events": [
        {"eventType": "noted", "dataSubject": "person-1", "payload": {"name": "Ada"}}]}).status,
    api.request("GET", base + "/events").status,
    api.request("DELETE", "/data-subjects/person-1").status,
    api.request("GET", "/data-subjects/person-1").status,
]
sqs = boto3.client("sqs", endpoint_url=store.aws_endpoint_url, region_name=store.region,
                   aws_access_key_id=store.access_key, aws_secret_access_key=store.secret_key)
received = sqs.receive_message(QueueUrl=store.demo_queue_url, WaitTimeSeconds=10).get("Messages", [])
store.stop()
print(json.dumps({"statuses": statuses, "notified": bool(received),
                  "modules": sorted({name.partition(".")[0] for name in sys.modules})}))
sys.stdout.flush()
os._exit(0)
"""


# Imported when installed, with a fallback when not: not a requirement of the running store.
OPTIONAL_IMPORTS = {
    # referencing (jsonschema's) tries it before typing, and requires it below Python 3.13 only.
    "typing_extensions",
    # requests tries urllib3.contrib.socks, which imports PySocks when it is installed (the dev set has it:
    # selenium requires urllib3[socks]); without it requests only lacks SOCKS proxies.
    "socks",
}


def _requirements(requirements_file: Path) -> list[Requirement]:
    """The file's requirements, following `-r other.txt`."""
    found: list[Requirement] = []
    for raw in requirements_file.read_text().splitlines():
        line = raw.partition("#")[0].strip()
        if line.startswith("-r "):
            found += _requirements(requirements_file.parent / line.removeprefix("-r ").strip())
        elif line:
            found.append(Requirement(line))
    return found


def _closure(requirements_file: Path) -> set[str]:
    """The distributions installing `requirements_file` brings, with their dependencies (as installed)."""
    pending = _requirements(requirements_file)
    seen: set[tuple[str, str]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        new_extras = {(name, extra) for extra in requirement.extras | {""}} - seen
        if not new_extras:
            continue
        seen |= new_extras
        for dependency in map(Requirement, metadata.requires(name) or []):
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for _, extra in new_extras):
                pending.append(dependency)
    return {name for name, _ in seen}


def test_the_run_set_leaves_out_the_dev_tools() -> None:
    run = _closure(REPO_ROOT / "requirements" / "run.txt")
    assert run.isdisjoint({"pytest", "hypothesis", "mypy", "ruff", "checkov", "cfn-lint", "boto3-stubs"})
    assert run < _closure(REPO_ROOT / "requirements" / "dev.txt")


@pytest.mark.slow
def test_the_running_store_imports_only_what_the_run_set_installs() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _EXERCISE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exercised = json.loads(result.stdout.strip().splitlines()[-1])
    assert exercised["statuses"] == [201, 201, 200, 200, 200, 200, 200, 201, 200, 204, 200]
    assert exercised["notified"]
    run = _closure(REPO_ROOT / "requirements" / "run.txt") | {"eventstore-client"}  # `-e ./client`
    providers = metadata.packages_distributions()
    # local_runtime.testing (used by the script above) is a test helper; its imports are in the run set too.
    outside = {
        module: sorted(providers[module])
        for module in exercised["modules"]
        if module in providers
        and module not in OPTIONAL_IMPORTS
        and not {canonicalize_name(d) for d in providers[module]} & run
    }
    assert not outside, f"imported by the running store but not installed by requirements/run.txt: {outside}"
