"""The Python runtime inside one isolated function container (`containers.py` starts it; stdlib only).

Run as `python -I -S bootstrap.py TASK_ROOT LAYER_ROOT...`: nothing of the source tree or the virtual
environment is on sys.path, only what Lambda would put there: the task root (the function's zip), then
each layer's `python/lib/python3.X/site-packages` and `python/` (the layer zips, as under /opt), then the
standard library. The handler string comes from `_HANDLER`, as in Lambda.

Protocol with the runtime: one JSON line per message on the original stdout; the handler's own stdout
and stderr (its logs) go to stderr. First message: `{"ready": true}` or the init error. Then, per JSON line
read from stdin (`{"event": ..., "context": {...}}`): `{"result": ...}` or `{"error": {...}}`.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO


class Context:
    """The attributes and method of Lambda's Python context object."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = fields["memory_limit_in_mb"]
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline: float = fields["deadline_epoch"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(error_type: str, exc: BaseException, message: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type,
        "errorMessage": message if message is not None else str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _log_error(error: dict[str, Any]) -> None:
    # Lambda's runtime logs an unhandled error as one "[ERROR] Type: message" record with its traceback.
    trace = "".join(error["stackTrace"])
    sys.stderr.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n{trace}")
    sys.stderr.flush()


def _load_handler() -> Any:
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, function_name)


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main() -> None:
    task_root, *layer_roots = sys.argv[1:]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    layer_paths = [
        str(path)
        for root in map(Path, layer_roots)
        for path in (root / "python" / "lib" / version / "site-packages", root / "python")
    ]
    sys.path[:0] = [task_root, *layer_paths]
    os.chdir(task_root)
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        handler = _load_handler()
    except ImportError as exc:
        module = os.environ["_HANDLER"].rpartition(".")[0]
        error = _error("Runtime.ImportModuleError", exc, f"Unable to import module '{module}': {exc}")
        _log_error(error)
        _send(channel, {"error": error})
        return
    except AttributeError as exc:
        error = _error("Runtime.HandlerNotFound", exc, f"Handler '{os.environ['_HANDLER']}' missing")
        _log_error(error)
        _send(channel, {"error": error})
        return
    except Exception as exc:  # noqa: BLE001 - any error at init is reported as Lambda does
        error = _error(f"Runtime.Unknown: {type(exc).__name__}", exc)
        _log_error(error)
        _send(channel, {"error": error})
        return
    _send(channel, {"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = handler(request["event"], Context(request["context"]))
            reply = {"result": result}
            encoded = json.dumps(reply)
        except Exception as exc:  # noqa: BLE001 - the handler's error goes back to the invoker
            error = _error(type(exc).__name__, exc)
            _log_error(error)
            encoded = json.dumps({"error": error})
        channel.write(encoded + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
