"""Functions run as Lambda runs them from their deployment packages: the function zip unpacked as the task
root, each layer zip as a layer root (its `python/` on sys.path, as /opt/python), one isolated interpreter
per container (`bootstrap.py`), so nothing of the source tree or the virtual environment is importable.

A container is a subprocess serving one invocation at a time; warm containers are reused and concurrent
invocations start more, up to a limit. A container whose function times out or dies is discarded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import select
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_runtime.lambdas import LambdaContext

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

_BOOTSTRAP = Path(__file__).with_name("bootstrap.py")


class FunctionError(RuntimeError):
    """The function failed as Lambda reports it (its errorType and errorMessage); the invoker decides what
    that means (API Gateway answers 502, the event source mapping retries)."""

    def __init__(self, function_name: str, error_type: str, message: str) -> None:
        super().__init__(f"{function_name}: {error_type}: {message}")
        self.error_type = error_type


@dataclass(frozen=True, slots=True)
class Package:
    """A function as deployed: its code, layers, handler and environment (read back from the emulator)."""

    name: str
    arn: str
    handler: str
    environment: Mapping[str, str]
    code_zip: Path
    layer_zips: tuple[Path, ...]
    timeout_seconds: float
    memory_mb: int
    version: str = "$LATEST"


class Unpacker:
    """Deployment packages extracted as Lambda does (the zip's root is the folder's root), each zip once:
    functions sharing a layer share its folder (read-only, as /opt is)."""

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._folders: dict[Path, Path] = {}
        self._lock = threading.Lock()

    def __call__(self, archive: Path) -> Path:
        with self._lock:
            folder = self._folders.get(archive)
            if folder is None:
                folder = self._scratch / str(len(self._folders))
                with zipfile.ZipFile(archive) as package:
                    package.extractall(folder)
                self._folders[archive] = folder
            return folder


class _Container:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def reply(self, function_name: str, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], max(timeout, 0.0))
        if not readable:
            self.kill()
            raise FunctionError(
                function_name, "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"
            )
        line = self.process.stdout.readline()
        if not line:
            self.kill()
            raise FunctionError(
                function_name, "Runtime.ExitError", f"Runtime exited with status {self.process.wait()}"
            )
        message: dict[str, Any] = json.loads(line)
        return message

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class IsolatedFunction:
    """A deployed function with a pool of warm containers; same interface as `lambdas.LambdaFunction`."""

    def __init__(
        self,
        package: Package,
        unpack: Unpacker,
        base_environment: Mapping[str, str],
        *,
        max_concurrency: int = 16,
    ) -> None:
        self.name = package.name
        self.arn = package.arn
        self._package = package
        self._task_root = unpack(package.code_zip)
        self._layer_roots = [unpack(layer) for layer in package.layer_zips]
        # Lambda's own variables, then the function's configuration (which wins, as it does in Lambda).
        self._environment = {
            **base_environment,
            "AWS_LAMBDA_FUNCTION_NAME": package.name,
            "AWS_LAMBDA_FUNCTION_VERSION": package.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(package.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{package.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "LAMBDA_TASK_ROOT": str(self._task_root),
            "_HANDLER": package.handler,
            "TZ": ":UTC",
            **package.environment,
        }
        self._idle: queue.LifoQueue[_Container] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._all: set[_Container] = set()
        self._lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return True

    def warm_up(self) -> None:
        """Start one container now, so init errors show at start and the first request is warm."""
        try:
            self._idle.put(self._cold_start())
        except FunctionError as exc:
            log.warning("%s (its invocations fail)", exc)

    def _cold_start(self) -> _Container:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - this interpreter, isolated, running the bootstrap
            [
                sys.executable,
                "-I",
                "-S",
                str(_BOOTSTRAP),
                str(self._task_root),
                *(str(root) for root in self._layer_roots),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self._environment,
            text=True,
        )
        container = _Container(process)
        with self._lock:
            self._all.add(container)
        try:
            message = container.reply(self.name, self._package.timeout_seconds)
        except FunctionError:
            self._discard(container)
            raise
        if "error" in message:
            self._discard(container)
            raise FunctionError(self.name, message["error"]["errorType"], message["error"]["errorMessage"])
        log.info("%s: container started in %.0f ms", self.name, (time.perf_counter() - started) * 1000)
        return container

    def _discard(self, container: _Container) -> None:
        container.kill()
        with self._lock:
            self._all.discard(container)

    def new_context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self._package.memory_mb,
            timeout_seconds=self._package.timeout_seconds,
            function_version=self._package.version,
        )

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """Run the function in a free container; its errors raise `FunctionError`."""
        context = context or self.new_context()
        with self._slots:
            try:
                container = self._idle.get_nowait()
            except queue.Empty:
                container = self._cold_start()
            request = {
                "event": event,
                "context": {
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "invoked_function_arn": context.invoked_function_arn,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "aws_request_id": context.aws_request_id,
                    "log_group_name": context.log_group_name,
                    "log_stream_name": context.log_stream_name,
                    "deadline_epoch": time.time() + context.get_remaining_time_in_millis() / 1000,
                },
            }
            try:
                assert container.process.stdin is not None
                container.process.stdin.write(json.dumps(request) + "\n")
                container.process.stdin.flush()
                message = container.reply(self.name, context.get_remaining_time_in_millis() / 1000)
            except (FunctionError, OSError):
                self._discard(container)
                raise
            self._idle.put(container)
        if "error" in message:
            raise FunctionError(self.name, message["error"]["errorType"], message["error"]["errorMessage"])
        return message["result"]

    def stop(self) -> None:
        with self._lock:
            containers, self._all = list(self._all), set()
        for container in containers:
            container.kill()
