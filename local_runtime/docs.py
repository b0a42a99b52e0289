"""Interactive docs: Swagger UI (from the swagger-ui-bundle package) for openapi.yaml at /openapi/."""

from __future__ import annotations

import json
import mimetypes
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from local_runtime.apigateway import HttpResponse

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
    from pathlib import Path

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


class ApiDocs:
    def __init__(self, spec_file: Path) -> None:
        spec = spec_file.read_bytes()
        self._fixed = {
            "/": HttpResponse(302, [("Location", "/openapi/")], b""),
            "/openapi": HttpResponse(301, [("Location", "/openapi/")], b""),
            "/openapi.yaml": _ok("application/yaml", spec),
            "/openapi.json": _ok("application/json", json.dumps(yaml.safe_load(spec)).encode()),
            "/openapi/swagger-initializer.js": _ok("text/javascript", _INITIALIZER),
        }
        self._assets = _swagger_ui_dir()

    def serve(self, method: str, path: str) -> HttpResponse | None:
        """The docs' response for GET `path`, or None when the path is not theirs."""
        if method not in {"GET", "HEAD"}:
            return None
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


def _ok(content_type: str, body: bytes) -> HttpResponse:
    return HttpResponse(200, [("Content-Type", content_type)], body)
