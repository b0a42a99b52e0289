"""Structured JSON logs, EMF metrics and X-Ray instrumentation of AWS SDK calls.

One JSON log format for the whole layer: every module logs through the standard library, either `logger`
(the package's logger, "eventstore") or `logging.getLogger(__name__)` (as storage does), which propagate to
one JSON handler on stdout; `extra=` fields become keys. Terraform sets the functions' log format to JSON,
so Lambda's own lines (START, REPORT) are JSON too. The line format and the settings are those of
aws-lambda-powertools' Logger and Metrics (`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_LOG_LEVEL`,
`POWERTOOLS_METRICS_NAMESPACE`, `POWERTOOLS_METRICS_DISABLED`), which the layer used before.

Why not Powertools: with botocore loaded it still added 8-14 ms of CPU to every cold start (its package
`__init__` imports Logger, Metrics and Tracer, with jmespath, gzip and typing_extensions), 4-7% of a bare
boto3 client's init, for a formatter and one EMF line that the standard library writes in a few lines
(`make bench`, section 1; bench/README.md).

X-Ray: aws-xray-sdk costs ~20 ms of CPU to import (asyncio, wrapt, its recorder). On an on-demand cold
start it is imported on the first invocation rather than in init; under SnapStart or provisioned
concurrency, init runs before any request waits on it, so it is done there (instrument_aws_sdk).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, Final

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(
    {*vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)), "message", "asctime"}
)
# Lambda sets this when a snapshot (SnapStart) or provisioned concurrency runs init ahead of requests.
_AHEAD_OF_REQUESTS: Final = frozenset({"snap-start", "provisioned-concurrency"})


def service_name() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or "eventstore"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: level, location, message, timestamp, service, logger name, the
    `extra=` fields, the X-Ray trace id inside Lambda, and the exception with its traceback."""

    def __init__(self, service: str) -> None:
        super().__init__(datefmt="%Y-%m-%d %H:%M:%S")
        self.service = service

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = time.gmtime(record.created)
        return f"{time.strftime(datefmt or self.default_time_format, moment)},{int(record.msecs):03d}+0000"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": self.formatTime(record, self.datefmt),
            "service": self.service,
            "name": record.name,
        }
        entry |= {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        trace = os.environ.get("_X_AMZN_TRACE_ID", "")
        if trace.startswith("Root="):
            entry["xray_trace_id"] = trace.split(";", 1)[0].removeprefix("Root=")
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
            entry["exception_name"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, separators=(",", ":"))


def log_level(environ: Mapping[str, str] = os.environ) -> int:
    """POWERTOOLS_LOG_LEVEL, else the level Lambda's logging configuration sets (it may say TRACE, which
    the standard library calls DEBUG), else INFO. An unknown name fails init, naming the setting."""
    name = environ.get("POWERTOOLS_LOG_LEVEL") or environ.get("AWS_LAMBDA_LOG_LEVEL") or "INFO"
    levels = logging.getLevelNamesMapping() | {"TRACE": logging.DEBUG}
    if name.upper() not in levels:
        raise ValueError(f"POWERTOOLS_LOG_LEVEL or AWS_LAMBDA_LOG_LEVEL: unknown log level {name!r}")
    return levels[name.upper()]


def _package_logger() -> logging.Logger:
    """The package's logger with the JSON handler; it stops propagating, so a record goes out once, as
    JSON, never also as the runtime's text on the root logger."""
    package = logging.getLogger(__package__)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service_name()))
    package.handlers = [handler]
    package.propagate = False
    package.setLevel(log_level())
    return package


logger = _package_logger()


class Telemetry:
    """Counts the project's own metrics for one invocation and writes them as one EMF log line (CloudWatch
    embedded metric format), with the service as the dimension."""

    def __init__(self, namespace: str | None = None) -> None:
        self._namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "EventStore"
        self._service = service_name()
        self._disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in {"1", "true"}
        self._values: dict[str, list[float]] = {}
        self._units: dict[str, str] = {}

    def count(self, name: str, value: int = 1) -> None:
        self._add(name, "Count", value)

    def milliseconds(self, name: str, value: float) -> None:
        self._add(name, "Milliseconds", value)

    def _add(self, name: str, unit: str, value: float) -> None:
        self._values.setdefault(name, []).append(float(value))
        self._units[name] = unit

    def flush(self) -> None:
        """Write the invocation's metrics, if it recorded any (an empty EMF line is only noise)."""
        values, self._values = self._values, {}
        if not values or self._disabled:
            return
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": name, "Unit": self._units[name]} for name in values],
                    }
                ],
            },
            "service": self._service,
            **values,
        }
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def tracing_enabled() -> bool:
    """True inside a Lambda function with active tracing (the runtime then runs an X-Ray daemon)."""
    return "AWS_XRAY_DAEMON_ADDRESS" in os.environ and "AWS_LAMBDA_FUNCTION_NAME" in os.environ


_instrumented = False


def instrument_aws_sdk() -> None:
    """Record every AWS SDK (botocore) call as an X-Ray subsegment; once per container.

    Called on each invocation and, through instrument_ahead_of_requests, at init when init does not delay a
    request. aws-xray-sdk's botocore patch wraps `BaseClient._make_api_call`, so clients created earlier
    are traced too.
    """
    global _instrumented  # noqa: PLW0603 - once per container
    if _instrumented or not tracing_enabled():
        return
    from aws_xray_sdk.core import patch  # noqa: PLC0415 - deferred on purpose, see the module doc

    patch(["botocore"])
    _instrumented = True


def instrument_ahead_of_requests() -> None:
    """Instrument at init when init runs ahead of requests (SnapStart's snapshot, provisioned concurrency):
    the import then lands in the snapshot instead of on a caller's first request."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in _AHEAD_OF_REQUESTS:
        instrument_aws_sdk()


def log_request(**fields: Any) -> None:
    logger.info("request", extra=fields)


instrument_ahead_of_requests()
