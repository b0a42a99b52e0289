"""Lambda's execution model for the handlers: one module per container, one event per container at a time.

Each function folder is a zip root. A container loads `functions/<name>/handler.py` under a module name of
its own (so module-scope clients and state are per container, as in Lambda) with its folder first on
sys.path while it imports. Concurrent invocations use more containers, up to a limit, like Lambda's
concurrency; a warm container is reused.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"  # moto's default account, also in the emulator's ARNs


class Handler(Protocol):
    def __call__(self, event: dict[str, Any], context: LambdaContext, /) -> Any: ...


@dataclass(slots=True)
class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: None = None
    client_context: None = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[$LATEST]local"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class Function(Protocol):
    """What API Gateway and the stream pump invoke: a source-tree function or a deployed package."""

    name: str
    arn: str

    @property
    def exists(self) -> bool: ...

    def warm_up(self) -> None: ...

    def new_context(self) -> LambdaContext: ...

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any: ...


class FunctionNotFoundError(RuntimeError):
    pass


_module_ids = itertools.count(1)
_import_lock = threading.Lock()  # sys.path is process-wide while a container imports


def load_handler(function_dir: Path, function_name: str) -> Handler:
    """Import `<function_dir>/handler.py` as a fresh module and return its `handler`."""
    path = function_dir / "handler.py"
    if not path.is_file():
        raise FunctionNotFoundError(f"{function_name}: {path} does not exist")
    module_name = f"_lambda_{function_name}_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FunctionNotFoundError(f"{function_name}: cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    with _import_lock:
        sys.path.insert(0, str(function_dir))
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(function_dir))
    handler: Handler = module.handler
    return handler


class LambdaFunction:
    """A function with a pool of warm containers."""

    def __init__(
        self,
        name: str,
        function_dir: Path,
        region: str,
        *,
        memory_mb: int = 256,
        timeout_seconds: float = 29.0,
        max_concurrency: int = 16,
    ) -> None:
        self.name = name
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
        self._dir = function_dir
        self._memory_mb = memory_mb
        self._timeout = timeout_seconds
        self._idle: queue.LifoQueue[Handler] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_concurrency)

    @property
    def exists(self) -> bool:
        return (self._dir / "handler.py").is_file()

    def warm_up(self) -> None:
        """Start one container now, so import errors show at start and the first request is warm."""
        self._idle.put(self._cold_start())

    def _cold_start(self) -> Handler:
        started = time.perf_counter()
        handler = load_handler(self._dir, self.name)
        log.info("%s: container started in %.0f ms", self.name, (time.perf_counter() - started) * 1000)
        return handler

    def new_context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self._memory_mb,
            timeout_seconds=self._timeout,
        )

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """Run the handler in a free container (a new one if none is idle); exceptions propagate."""
        with self._slots:
            try:
                handler = self._idle.get_nowait()
            except queue.Empty:
                handler = self._cold_start()
            try:
                return handler(event, context or self.new_context())
            finally:
                self._idle.put(handler)
