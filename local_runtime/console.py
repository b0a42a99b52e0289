"""The web console at /console/ (outside the API, like the docs): the client package's pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventstore_client.console import console_page
from local_runtime.proxy_events import HttpResponse

if TYPE_CHECKING:
    from local_runtime.proxy_events import IncomingRequest


class ConsolePages:
    """The page calls the API on this origin; with --require-iam it cannot sign, so its calls get 403
    (`eventstore console --url` signs them instead)."""

    def __init__(self, *, allow_writes: bool) -> None:
        self._allow_writes = allow_writes

    def serve(self, request: IncomingRequest) -> HttpResponse | None:
        """The console's response to `request`, or None when its path is not the console's."""
        if request.method not in {"GET", "HEAD"}:
            return None
        page = console_page(request.raw_path, allow_writes=self._allow_writes)
        if page is None:
            return None
        return HttpResponse(page.status, list(page.headers), page.body)
