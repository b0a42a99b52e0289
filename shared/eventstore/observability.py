"""Structured logs, EMF metrics (aws-lambda-powertools) and X-Ray instrumentation of AWS SDK calls.

One JSON log format for the whole layer: modules log through `logger` (the Powertools Logger) or through the
standard library (`logging.getLogger(__name__)`, as storage does), which this module routes, once per
container, into the same JSON handler, `extra=` fields kept as keys. Terraform sets the functions' log
format to JSON, so Lambda's own lines (START, REPORT) are JSON too.

Cold-start budget (measured by `make bench`, section 1): aws-lambda-powertools is imported at module scope;
with botocore already loaded it adds ~10-30 ms, which fits the budget (median init <= 1.15x a bare boto3
client; the functions create botocore clients and skip boto3's own import, see service.aws_session).
Deferring only Metrics would save nothing: the package's __init__ imports Logger, Metrics and Tracer
whichever one is asked for. aws-xray-sdk is the expensive one and is deferred to the first invocation
(instrument_aws_sdk); the benchmark reports that first invocation separately.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "eventstore"))

# The package's standard-library loggers (eventstore.<module>) propagate to this one; it gets the Powertools
# handler and stops propagating, so their records are written once, as JSON, never as the runtime's text.
logging.getLogger(__package__)
copy_config_to_registered_loggers(source_logger=logger, include={__package__})


class Telemetry:
    """Counts the project's own metrics for one invocation and writes them as one EMF log line."""

    def __init__(self, namespace: str | None = None) -> None:
        namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "EventStore")
        self._metrics = Metrics(namespace=namespace)
        self._pending = False

    def count(self, name: str, value: int = 1) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        self._pending = True

    def milliseconds(self, name: str, value: float) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
        self._pending = True

    def flush(self) -> None:
        """Write the invocation's metrics, if it recorded any (an empty EMF line is only noise)."""
        if self._pending:
            self._metrics.flush_metrics()
            self._pending = False


def tracing_enabled() -> bool:
    """True inside a Lambda function with active tracing (the runtime then runs an X-Ray daemon)."""
    return "AWS_XRAY_DAEMON_ADDRESS" in os.environ and "AWS_LAMBDA_FUNCTION_NAME" in os.environ


_instrumented = False


def instrument_aws_sdk() -> None:
    """Record every AWS SDK (botocore) call as an X-Ray subsegment.

    Called on the first invocation rather than at import: aws-xray-sdk costs ~140 ms to import, which
    would otherwise be added to every cold start's init phase before the function can answer.
    """
    global _instrumented  # noqa: PLW0603 - once per container
    if _instrumented or not tracing_enabled():
        return
    from aws_xray_sdk.core import patch  # noqa: PLC0415 - deferred on purpose, see above

    patch(["botocore"])
    _instrumented = True


def log_request(**fields: Any) -> None:
    logger.info("request", extra=fields)
