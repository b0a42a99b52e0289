"""The README's curl examples run as written against the local store (`make run`)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_runtime.testing import LocalStore

README = Path(__file__).resolve().parent.parent / "README.md"
LOCAL_API = "http://127.0.0.1:8000"


def curl_blocks() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.lstrip().startswith("# ") and "curl " in block]


def run(block: str, store: LocalStore) -> list[Any]:
    script = block.replace(LOCAL_API, store.api_url).replace(
        "--user test:test", f"--user {store.access_key}:{store.secret_key}"
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
    decoder, text = json.JSONDecoder(), result.stdout.strip()
    values: list[Any] = []
    while text:
        value, end = decoder.raw_decode(text)
        values.append(value)
        text = text[end:].lstrip()
    return values


@pytest.mark.slow
def test_readme_curl_examples_run_as_written(local_store: LocalStore) -> None:
    create, put, batch, read, details_and_list, erasure, snapshot, lifecycle = curl_blocks()
    stream = run(create, local_store)[0]
    assert stream == {"stream": {**stream["stream"], "revision": 1, "streamType": "order"}}
    assert run(put, local_store)[0]["stream"]["revision"] == 2
    assert run(batch, local_store)[0]["stream"]["revision"] == 4
    assert run(batch, local_store)[0]["stream"]["revision"] == 4, "a re-sent batch is a replay"
    events = run(read, local_store)[0]["eventPage"]["events"]
    assert [e["eventType"] for e in events] == ["OrderPlaced", "OrderPaid", "OrderPacked", "OrderShipped"]
    assert events[3]["metadata"]["correlationId"] == "checkout-9"
    details, listing = run(details_and_list, local_store)
    assert details["stream"]["revision"] == 4
    assert "streamPage" in listing
    appended, state = run(erasure, local_store)
    assert appended["stream"]["revision"] == 5
    assert (state["dataSubject"], state["state"]) == ("customer-5501", "erased")
    erased = run(read, local_store)[0]["eventPage"]["events"][4]
    assert (erased["payload"], erased["payloadErased"]) == (None, True)
    assert erased["dataSubject"] == "customer-5501"
    written, stored = run(snapshot, local_store)
    assert written["snapshot"]["revision"] == 5
    assert stored["snapshot"] == {**written["snapshot"], "state": {"status": "shipped", "lines": 2}}
    created, metadata, truncated, restarted, gone = run(lifecycle, local_store)
    assert created["stream"]["revision"] == 3
    assert metadata["metadata"]["truncateBefore"] == 2
    page = truncated["eventPage"]
    assert ([e["revision"] for e in page["events"]], page["firstRevision"]) == ([2, 3], 2)
    assert restarted["stream"]["revision"] == 4
    assert gone == 410
