"""Removal end to end in the local runtime: appends through the API, notify_stream's cursor, the scheduled
function run with a moved clock, the API's reads and feed afterwards, and `eventstore archive read`.

The store runs in a subprocess of its own (it sets the handlers' environment in its process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from local_runtime import REPO_ROOT

pytestmark = pytest.mark.slow

_EXERCISE = """
import io, json, os, sys, time, contextlib
from datetime import UTC, datetime, timedelta
import boto3
from local_runtime.runtime import start
from local_runtime.settings import Settings
from local_runtime.testing import SignedHttp

store = start(Settings(api_port=0, emulator_port=0, removal_interval_seconds=0,
                       retention_defaults=json.dumps({"order": {"maxAgeSeconds": 3600}})))
api = SignedHttp(store.api_url, region=store.region, access_key=store.access_key, secret_key=store.secret_key)
kwargs = dict(endpoint_url=store.aws_endpoint_url, region_name=store.region,
              aws_access_key_id=store.access_key, aws_secret_access_key=store.secret_key)
dynamodb = boto3.client("dynamodb", **kwargs)

def stream(stream_type, payloads):
    first = {"initialEvent": {"eventType": "e", "payload": payloads[0]}}
    created = api.request("POST", f"/streams/{stream_type}", first)
    stream_id = created.json()["stream"]["streamId"]
    for n, payload in enumerate(payloads[1:], start=1):
        api.request("POST", f"/streams/{stream_type}/{stream_id}/events",
                    {"expectedRevision": n, "events": [{"eventType": "e", "payload": payload}]})
    return stream_id

aged = stream("order", [{"n": 1}, {"n": 2}, {"n": 3}])
truncated = stream("invoice", [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])
# The lifecycle API's control item (LIFECYCLE_DESIGN), written directly: truncate before revision 3.
from eventstore.retention import sweep_shard
dynamodb.put_item(TableName=store.table_name, Item={
    "streamId": {"S": truncated}, "revision": {"N": "-2"}, "streamType": {"S": "invoice"},
    "truncateBefore": {"N": "3"}, "sweepShard": {"S": sweep_shard(truncated)}})

def notified(stream_id, head):
    item = dynamodb.get_item(TableName=store.table_name, ConsistentRead=True,
                             Key={"streamId": {"S": stream_id}, "revision": {"N": "0"}}).get("Item", {})
    return int(item.get("fedRevision", {"N": "0"})["N"]) >= head
deadline = time.monotonic() + 30
while not (notified(aged, 3) and notified(truncated, 4)) and time.monotonic() < deadline:
    time.sleep(0.1)

early = store.run_removal()  # now: nothing is an hour old yet; only the truncate is due
later = store.run_removal(datetime.now(UTC) + timedelta(hours=2))  # the clock moved two hours on
again = store.run_removal(datetime.now(UTC) + timedelta(hours=2))

def revisions(stream_type, stream_id):
    events = api.request("GET", f"/streams/{stream_type}/{stream_id}/events").json()["eventPage"]["events"]
    return [e["revision"] for e in events]
feed = api.request("GET", "/feed?limit=100").json()["feedPage"]["events"]
read_back = {"aged_revisions": revisions("order", aged),
             "truncated_revisions": revisions("invoice", truncated)}

from eventstore_client import cli
os.environ.update(AWS_ENDPOINT_URL=store.aws_endpoint_url, AWS_ACCESS_KEY_ID=store.access_key,
                  AWS_SECRET_ACCESS_KEY=store.secret_key)
archived = {}
for stream_id in (aged, truncated):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["archive", "read", "--bucket", store.archive_bucket, "--region", store.region,
                           stream_id])
    archived[stream_id] = [status, [json.loads(line) for line in out.getvalue().splitlines()]]
store.stop()
print(json.dumps({"aged": aged, "truncated": truncated, "early": early, "later": later, "again": again,
                  **read_back,
                  "feed": [[e["streamId"], e["revision"]] for e in feed], "archived": archived}))
sys.stdout.flush()
os._exit(0)
"""


def test_removal_archive_and_archive_read_in_the_local_runtime() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _EXERCISE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"PYTHONPATH": f"{REPO_ROOT / 'shared'}:{REPO_ROOT}:{REPO_ROOT / 'client' / 'src'}", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.splitlines()[-1])
    aged, truncated = run["aged"], run["truncated"]
    assert (run["early"]["commits_removed"], run["early"]["spans_archived"]) == (2, 1)
    # Two hours on, the order stream's first two commits are past the type's max age; its head stays.
    assert (run["later"]["commits_removed"], run["later"]["spans_archived"]) == (2, 1)
    assert run["again"]["commits_removed"] == 0
    assert run["aged_revisions"] == [3]
    assert run["truncated_revisions"] == [3, 4]
    # The feeds skip commits that no longer exist.
    assert sorted(r for s, r in run["feed"] if s == aged) == [3]
    assert sorted(r for s, r in run["feed"] if s == truncated) == [3, 4]
    for stream_id, expected in ((aged, [1, 2]), (truncated, [1, 2])):
        status, events = run["archived"][stream_id]
        assert status == 0
        assert [e["revision"] for e in events] == expected
        assert [e["data"] for e in events] == [{"n": 1}, {"n": 2}]
