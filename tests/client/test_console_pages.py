"""The console's pages as both servers serve them (eventstore_client.console.console_page)."""

from __future__ import annotations

import json

import pytest

from eventstore_client.console import CONTENT_SECURITY_POLICY, console_page


@pytest.mark.parametrize("allow_writes", [False, True])
def test_the_page_learns_whether_writes_are_allowed(allow_writes: bool) -> None:  # noqa: FBT001
    page = console_page("/console/config.json", allow_writes=allow_writes)
    assert page is not None
    assert json.loads(page.body) == {"allowWrites": allow_writes}


def test_every_asset_is_served_with_the_policy_and_nothing_else_is() -> None:
    for path in ("/console/", "/console/index.html", "/console/console.js", "/console/console.css"):
        page = console_page(path, allow_writes=False)
        assert page is not None, path
        assert page.status == 200
        assert ("Content-Security-Policy", CONTENT_SECURITY_POLICY) in page.headers
        assert ("X-Content-Type-Options", "nosniff") in page.headers
    redirect = console_page("/console", allow_writes=False)
    assert redirect is not None
    assert (redirect.status, dict(redirect.headers)["Location"]) == (301, "/console/")
    for outside in (
        "/console/../openapi.yaml",
        "/console/missing.js",
        "/console/console_static/index.html",
        "/x",
    ):
        assert console_page(outside, allow_writes=False) is None, outside
