"""The API's routes, from routes.json: the one table shared with terraform/api.tf and the local runtime.

Each route names its operation (openapi.yaml's operationId); a Lambda runs the operation its request's route
names, so no operation looks at the method or the path to find out what it was asked to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Final


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    """The resource path with {parameters}: what API Gateway sends as the event's `resource`."""
    operation: str
    function: str
    """The Lambda behind the route: its folder under functions/."""


def _load() -> tuple[Route, ...]:
    document = json.loads(resources.files(__package__).joinpath("routes.json").read_text())
    return tuple(
        Route(method=r["method"], path=r["path"], operation=r["operation"], function=r["function"])
        for r in document["routes"]
    )


ROUTES: Final = _load()
_OPERATIONS: Final = {(route.method, route.path): route.operation for route in ROUTES}


def operation_of(method: str, resource: str) -> str | None:
    """The operation of the route API Gateway matched (its method and resource); None if no route has them."""
    return _OPERATIONS.get((method, resource))
