"""Every module logs to CloudWatch in one JSON format, `extra=` fields kept (eventstore.observability)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

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
