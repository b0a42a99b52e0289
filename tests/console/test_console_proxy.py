"""`eventstore console` against a local runtime that requires IAM, as a deployed API does: the proxy signs
the page's calls with the caller's credentials; the browser never holds any, and an unsigned call straight
to the API is still refused."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium.webdriver.common.by import By

from local_runtime.testing import LocalStore, SignedHttp, launch
from tests.console.support import console_errors, link, screenshot, text_appears, visible

if TYPE_CHECKING:
    from collections.abc import Iterator

    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.slow

TYPE = f"Invoice{uuid.uuid4().hex[:6]}"
CONSOLE_HEADER = {"X-Eventstore-Console": "1"}


@pytest.fixture(scope="module")
def store() -> Iterator[LocalStore]:
    with launch(require_iam=True) as local:
        yield local


@contextlib.contextmanager
def _console(store: LocalStore, *args: str) -> Iterator[str]:
    """`eventstore console --url API --port 0 ARGS` with the store's credentials in the environment (the
    credential chain a person's shell gives it); yields the page's URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": store.access_key,
        "AWS_SECRET_ACCESS_KEY": store.secret_key,
        "AWS_DEFAULT_REGION": store.region,
    }
    command = [str(Path(sys.executable).parent / "eventstore"), "--json", "--url", store.api_url, "console"]
    process = subprocess.Popen(
        [*command, "--port", "0", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["api"] == store.api_url
        yield str(started["url"])
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def console(store: LocalStore) -> Iterator[str]:
    with _console(store) as url:
        yield url


@pytest.fixture(scope="module")
def api(store: LocalStore) -> SignedHttp:
    return store.client()


def _call(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310 - 127.0.0.1
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _origin(console: str) -> str:
    return console.removesuffix("/console/")


def test_the_page_reads_through_the_signing_proxy(
    browser: WebDriver, console: str, store: LocalStore, api: SignedHttp
) -> None:
    created = api.request(
        "POST", f"/streams/{TYPE}", {"initialEvent": {"eventType": "Issued", "payload": {"total": "99.50"}}}
    )
    assert created.status == 201, created.body
    stream_id = created.json()["stream"]["streamId"]
    # The API itself still refuses what is not signed.
    assert api.request("GET", "/stream-types", sign=False).status == 403
    assert api.request("GET", f"/streams/{TYPE}/{stream_id}/events", sign=False).status == 403

    deadline = time.monotonic() + 10
    while TYPE not in json.dumps(api.request("GET", "/stream-types").json()) and time.monotonic() < deadline:
        time.sleep(0.1)  # registered with the type's first feed item, a moment after the append
    browser.get(console)
    link(browser, TYPE).click()
    visible(browser, f"a[href$='{stream_id}']").click()
    text_appears(browser, "article[data-revision='1']", '"total": "99.50"')
    assert browser.find_element(By.ID, "mode").text == "Read-only"
    assert browser.find_elements(By.TAG_NAME, "form") == []  # no append or delete form
    screenshot(browser, "proxy-read-only")
    assert [e["message"] for e in console_errors(browser)] == []
    # Nothing the page loaded holds a credential: the proxy signs after the browser is out of the picture.
    assert store.secret_key not in {c["value"] for c in browser.get_cookies()}
    assert browser.execute_script("return document.cookie + JSON.stringify(localStorage)") in {"{}", ""}


def test_the_proxy_ignores_what_the_browser_sends_as_credentials(console: str) -> None:
    forged = {
        **CONSOLE_HEADER,
        "Authorization": "AWS4-HMAC-SHA256 Credential=forged/20260101/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host, Signature=00",
    }
    status, body = _call(f"{_origin(console)}/stream-types?limit=5", headers=forged)
    assert status == 200, body
    assert "streamTypePage" in body


def test_the_proxy_refuses_what_a_foreign_page_could_send(console: str, api: SignedHttp) -> None:
    origin = _origin(console)
    # No console header: a cross-site form or <img> cannot set it (and a script would need a CORS preflight).
    assert _call(f"{origin}/stream-types")[0] == 403
    assert (
        _call(f"{origin}/stream-types", headers={**CONSOLE_HEADER, "Origin": "https://evil.example"})[0]
        == 403
    )
    # A DNS name rebound to 127.0.0.1 arrives with its own Host header.
    assert _call(f"{origin}/stream-types", headers={**CONSOLE_HEADER, "Host": "evil.example"})[0] == 421
    # Read-only: a write is refused by the proxy, not only hidden by the page.
    stream_id = str(uuid.uuid4())
    status, _ = _call(
        f"{origin}/streams/{TYPE}",
        "POST",
        {"streamId": stream_id, "initialEvent": {"eventType": "Issued"}},
        CONSOLE_HEADER,
    )
    assert status == 403
    assert api.request("GET", f"/streams/{TYPE}/{stream_id}/details").status == 404


def test_with_allow_writes_the_proxy_signs_writes_and_the_page_offers_forms(
    browser: WebDriver, store: LocalStore, api: SignedHttp
) -> None:
    with _console(store, "--allow-writes") as console:
        origin = _origin(console)
        stream_id = str(uuid.uuid4())
        status, body = _call(
            f"{origin}/streams/{TYPE}",
            "POST",
            {"streamId": stream_id, "initialEvent": {"eventType": "Issued", "payload": {"total": "1.00"}}},
            CONSOLE_HEADER,
        )
        assert status == 201, body
        status, body = _call(
            f"{origin}/streams/{TYPE}?updated-after=2020-01-01T00:00:00%2B00:00&limit=1000",
            headers=CONSOLE_HEADER,
        )
        assert status == 200, body
        assert stream_id in {s["streamId"] for s in body["streamPage"]["streams"]}
        browser.get(f"{console}#/streams/{TYPE}/{stream_id}")
        visible(browser, "form[aria-labelledby=append-heading]")
        assert browser.find_element(By.ID, "mode").text == "Writes allowed"
        assert api.request("GET", f"/streams/{TYPE}/{stream_id}/details").status == 200
