"""Every module logs to CloudWatch in one JSON format, `extra=` fields kept (eventstore.observability)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from eventstore.observability import Telemetry, log_level
from tests.support import ROOT

# A fresh interpreter, as a Lambda container starts: the runtime's own text handler on the root logger
# (Lambda's bootstrap installs one), then the layer, then one log line from a standard-library module
# logger (as storage writes them) and one unhandled error in an operation (as http writes it).
_CONTAINER = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(stream=sys.stdout, format="TEXT %(levelname)s %(name)s %(message)s")
    from eventstore import http
    from tests.support import proxy_event

    logging.getLogger("eventstore.dynamodb.listing").warning("unprocessed keys", extra={"keys": 3})

    def fails(request):
        raise RuntimeError("boom")

    response = http.handle(proxy_event("GET", "/liveness-check"), {"livenessCheck": fails})
    assert response["statusCode"] == 500, response
    """
)


def test_standard_library_and_powertools_logs_are_one_json_format_with_their_extra_fields() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_LAMBDA_"))}
    env |= {
        "POWERTOOLS_SERVICE_NAME": "eventstore-test",
        "_X_AMZN_TRACE_ID": "Root=1-6747a1c4-3f2a1b0c9d8e7f6a5b4c3d2e;Parent=53995c3f42cd8ad8;Sampled=1",
        "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}",
    }
    run = subprocess.run(
        [sys.executable, "-c", _CONTAINER], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )
    lines = run.stdout.splitlines()
    assert not [line for line in lines if line.startswith("TEXT")], "a record also went out as plain text"
    records = [json.loads(line) for line in lines]
    assert [(r["level"], r["message"]) for r in records] == [
        ("WARNING", "unprocessed keys"),
        ("ERROR", "unhandled error"),
    ]
    stored, unhandled = records
    assert (stored["keys"], stored["name"], stored["service"]) == (
        3,
        "eventstore.dynamodb.listing",
        "eventstore-test",
    )
    assert unhandled["service"] == "eventstore-test"
    assert "RuntimeError: boom" in unhandled["exception"]
    assert unhandled["exception_name"] == "RuntimeError"
    # The X-Ray trace of the invocation, to find a log line from a trace and back.
    assert {r["xray_trace_id"] for r in records} == {"1-6747a1c4-3f2a1b0c9d8e7f6a5b4c3d2e"}


def test_metrics_are_one_emf_line_per_invocation_with_the_service_dimension(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "eventstore-test")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    telemetry = Telemetry(namespace="EventStoreTest")
    telemetry.flush()
    assert capsys.readouterr().out == "", "an invocation without metrics writes no line"
    telemetry.count("AppendsAccepted")
    telemetry.count("EventsAppended", 3)
    telemetry.count("EventsAppended", 2)
    telemetry.milliseconds("NotificationLagMilliseconds", 12.5)
    telemetry.flush()
    telemetry.flush()
    (line,) = capsys.readouterr().out.splitlines()
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "EventStoreTest",
        "Dimensions": [["service"]],
        "Metrics": [
            {"Name": "AppendsAccepted", "Unit": "Count"},
            {"Name": "EventsAppended", "Unit": "Count"},
            {"Name": "NotificationLagMilliseconds", "Unit": "Milliseconds"},
        ],
    }
    assert abs(document["_aws"]["Timestamp"] / 1000 - time.time()) < 60
    assert document["service"] == "eventstore-test"
    assert (document["AppendsAccepted"], document["EventsAppended"]) == ([1.0], [3.0, 2.0])
    assert document["NotificationLagMilliseconds"] == [12.5]


def test_metrics_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    telemetry = Telemetry()
    telemetry.count("AppendsAccepted")
    telemetry.flush()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("environ", "level"),
    [
        ({}, logging.INFO),
        ({"AWS_LAMBDA_LOG_LEVEL": "TRACE"}, logging.DEBUG),  # Lambda's finest level
        ({"AWS_LAMBDA_LOG_LEVEL": "WARN"}, logging.WARNING),
        ({"AWS_LAMBDA_LOG_LEVEL": "ERROR", "POWERTOOLS_LOG_LEVEL": "debug"}, logging.DEBUG),
    ],
)
def test_the_log_level_follows_the_function_s_settings(environ: dict[str, str], level: int) -> None:
    assert log_level(environ) == level


def test_an_unknown_log_level_fails_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="AWS_LAMBDA_LOG_LEVEL"):
        log_level({"AWS_LAMBDA_LOG_LEVEL": "LOUD"})
