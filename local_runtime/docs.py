"""Interactive docs: Swagger UI (from the swagger-ui-bundle package) for openapi.yaml at /openapi/."""

from __future__ import annotations

import json
import mimetypes
import re
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from local_runtime.proxy_events import HttpResponse

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
    from pathlib import Path

    from local_runtime.proxy_events import IncomingRequest

# The package's index.html loads ./swagger-initializer.js; ours points it at this API's spec.
_INITIALIZER = b"""window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
"""


def _swagger_ui_dir() -> Traversable:
    vendor = resources.files("swagger_ui_bundle").joinpath("vendor")
    (folder,) = (entry for entry in vendor.iterdir() if entry.name.startswith("swagger-ui-"))
    return folder


# host[:port] or [IPv6][:port]: what a Host header may name before it is written into the document.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class ApiDocs:
    """The docs' pages. The document's `servers` names the URL each request came to, so Swagger UI's
    "Try it out" reaches this runtime whatever --host and --api-port it was given."""

    def __init__(self, spec_file: Path) -> None:
        self._yaml = spec_file.read_text()
        self._document = yaml.safe_load(self._yaml)
        # The first server is the local runtime's (`make run`); any others are kept as written.
        self._written_url: str = self._document["servers"][0]["url"]
        if self._yaml.count(f"url: {self._written_url}") != 1:
            raise ValueError(f"{spec_file}: cannot find its one server URL, {self._written_url}, to replace")
        self._fixed = {
            "/": HttpResponse(302, [("Location", "/openapi/")], b""),
            "/openapi": HttpResponse(301, [("Location", "/openapi/")], b""),
            "/openapi/swagger-initializer.js": _ok("text/javascript", _INITIALIZER),
        }
        self._assets = _swagger_ui_dir()

    def serve(self, request: IncomingRequest) -> HttpResponse | None:
        """The docs' response to `request`, or None when its path is not theirs."""
        method, path = request.method, request.raw_path
        if method not in {"GET", "HEAD"}:
            return None
        if path in {"/openapi.yaml", "/openapi.json"}:
            return self._spec(path, _origin(request))
        if path in self._fixed:
            return self._fixed[path]
        name = path.removeprefix("/openapi/") or "index.html"
        if not path.startswith("/openapi/") or "/" in name or name.startswith("."):
            return None
        asset = self._assets.joinpath(name)
        if not asset.is_file():
            return None
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return _ok(content_type, asset.read_bytes())

    def _spec(self, path: str, origin: str | None) -> HttpResponse:
        url = origin or self._written_url
        if path == "/openapi.yaml":
            # A text replacement keeps the file's layout and comments; the URL occurs once (checked above).
            text = self._yaml.replace(f"url: {self._written_url}", f"url: {url}")
            return _ok("application/yaml", text.encode())
        local, *others = self._document["servers"]
        servers = [{**local, "url": url}, *others]
        return _ok("application/json", json.dumps({**self._document, "servers": servers}).encode())


def _origin(request: IncomingRequest) -> str | None:
    """http://<Host header>, when the request has exactly one well-formed Host header."""
    hosts = [value.strip() for name, value in request.headers if name.lower() == "host"]
    if len(hosts) != 1 or not _HOST.fullmatch(hosts[0]):
        return None
    return f"http://{hosts[0]}"


def _ok(content_type: str, body: bytes) -> HttpResponse:
    return HttpResponse(200, [("Content-Type", content_type)], body)
