"""Bad input: each case gets its exact status, problem type and offending field, and writes nothing."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eventstore.appends import NewEvent
from eventstore.domain import Caller
from eventstore.table import create_table
from tests.support import assert_matches_schema, data_key_resources, load_handler, proxy_event

EXISTING = "6f1c2b7a-8e11-4c4e-9f39-9b3d4f0e5c2a"
INVALID = "urn:eventstore:problem:invalid-request"
TOO_LARGE = "urn:eventstore:problem:payload-too-large"


@dataclass(frozen=True)
class Case:
    name: str
    function: str
    method: str
    resource: str
    field: str | None
    body: Any = None
    raw_body: str | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    query: dict[str, str] | None = None
    status: int = 400
    problem: str = INVALID
    base64: bool = False


def ev(**extra: Any) -> dict[str, Any]:
    return {"eventType": "Happened", **extra}


def nested(levels: int, leaf: Any = 1) -> Any:
    """A value nesting `levels` arrays (nested(0) is the leaf itself)."""
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


ORDER = {"streamType": "order"}
STREAM = {"streamType": "order", "streamId": EXISTING}
CREATE = ("create_stream", "POST", "/streams/{streamType}")
BATCH = ("append_event", "POST", "/streams/{streamType}/{streamId}/events")
PUT = ("append_event", "PUT", "/streams/{streamType}/{streamId}/events/{revision}")
READ = ("read_events", "GET", "/streams/{streamType}/{streamId}/events")
LIST = ("list_streams", "GET", "/streams/{streamType}")

CASES = [
    Case("malformed JSON", *CREATE, "/body", raw_body='{"initialEvent": ', params=ORDER),
    Case(
        "NaN is not JSON",
        *CREATE,
        "/body",
        raw_body='{"initialEvent": {"eventType": "A", "payload": NaN}}',
        params=ORDER,
    ),
    Case("no body", *CREATE, "/body", params=ORDER),
    Case(
        "number beyond a double",
        *CREATE,
        "/body/initialEvent/payload",
        raw_body='{"initialEvent": {"eventType": "A", "payload": 1e400}}',
        params=ORDER,
    ),
    Case(
        "401-digit integer",
        *CREATE,
        "/body/events/0/payload/n",
        raw_body='{"events": [{"eventType": "A", "payload": {"n": 1%s}}]}' % ("0" * 400),
        params=ORDER,
    ),
    Case(
        "integer just beyond 2^53 - 1",
        *CREATE,
        "/body/events/0/payload/1",
        body={"events": [ev(payload=[1, 2**53])]},
        params=ORDER,
    ),
    Case(
        "negative integer beyond 2^53 - 1 in metadata",
        *CREATE,
        "/body/events/0/metadata/account",
        body={"events": [ev(metadata={"account": -(2**53)})]},
        params=ORDER,
    ),
    Case(
        "fraction beyond 2^53 - 1",
        *CREATE,
        "/body/initialEvent/payload/x",
        raw_body='{"initialEvent": {"eventType": "A", "payload": {"x": 1.5e300}}}',
        params=ORDER,
    ),
    Case(
        "20-digit expectedRevision",
        *BATCH,
        "/body/expectedRevision",
        raw_body='{"expectedRevision": 12345678901234567890, "events": [{"eventType": "A"}]}',
        params=STREAM,
    ),
    Case(
        "payload nesting 33 levels",
        *CREATE,
        "/body/initialEvent/payload",
        body={"initialEvent": ev(payload=nested(33))},
        params=ORDER,
    ),
    Case(
        "metadata nesting 33 levels",
        *PUT,
        "/body/event/metadata",
        body={"event": ev(metadata={"a": nested(32)})},
        params={**STREAM, "revision": "2"},
    ),
    Case(
        "second event's payload nesting 33 levels",
        *BATCH,
        "/body/events/1/payload",
        body={"expectedRevision": 1, "events": [ev(payload=nested(32)), ev(payload=nested(33, leaf="x"))]},
        params=STREAM,
    ),
    Case(
        "payload nesting 100 levels",
        *CREATE,
        "/body/events/0/payload" + "/0" * 61,
        body={"events": [ev(payload=nested(100))]},
        params=ORDER,
    ),
    Case(
        "payload nesting 5,000 levels",
        *CREATE,
        "/body/events/0/payload" + "/0" * 61,
        raw_body='{"events": [{"eventType": "A", "payload": %s}]}' % ("[" * 5000 + "]" * 5000),
        params=ORDER,
    ),
    Case(
        "body nesting 10,000 levels",
        *CREATE,
        "/body",
        raw_body='{"initialEvent": {"eventType": "A", "payload": %s}}' % ("[" * 10_000 + "]" * 10_000),
        params=ORDER,
    ),
    Case(
        "body nesting 100,000 levels",
        *CREATE,
        "/body",
        raw_body='{"initialEvent": {"eventType": "A", "payload": %s}}'
        % ('{"a":' * 100_000 + "1" + "}" * 100_000),
        params=ORDER,
    ),
    Case(
        "lone surrogate",
        *CREATE,
        "/body/initialEvent/payload",
        raw_body='{"initialEvent": {"eventType": "A", "payload": "\\ud800"}}',
        params=ORDER,
    ),
    Case("body is an array", *CREATE, "/body", body=[ev()], params=ORDER),
    Case(
        "both initialEvent and events",
        *CREATE,
        "/body",
        body={"initialEvent": ev(), "events": [ev()]},
        params=ORDER,
    ),
    Case("neither initialEvent nor events", *CREATE, "/body", body={}, params=ORDER),
    Case("empty events", *CREATE, "/body/events", body={"events": []}, params=ORDER),
    Case("101 events", *CREATE, "/body/events", body={"events": [ev()] * 101}, params=ORDER),
    Case(
        "missing eventType",
        *CREATE,
        "/body/initialEvent/eventType",
        body={"initialEvent": {"payload": 1}},
        params=ORDER,
    ),
    Case(
        "eventType with spaces",
        *CREATE,
        "/body/events/0/eventType",
        body={"events": [{"eventType": "a b"}]},
        params=ORDER,
    ),
    Case(
        "eventType with a trailing newline",
        *CREATE,
        "/body/events/0/eventType",
        body={"events": [{"eventType": "A\n"}]},
        params=ORDER,
    ),
    Case(
        "eventType not a string",
        *CREATE,
        "/body/events/0/eventType",
        body={"events": [{"eventType": 7}]},
        params=ORDER,
    ),
    Case(
        "unknown event member",
        *CREATE,
        "/body/events/0/colour",
        body={"events": [ev(colour="red")]},
        params=ORDER,
    ),
    Case(
        "unknown top-level member",
        *CREATE,
        "/body/extra",
        body={"initialEvent": ev(), "extra": 1},
        params=ORDER,
    ),
    Case(
        "eventId not a UUID",
        *CREATE,
        "/body/events/0/eventId",
        body={"events": [ev(eventId="42")]},
        params=ORDER,
    ),
    Case(
        "metadata not an object",
        *CREATE,
        "/body/events/0/metadata",
        body={"events": [ev(metadata="x")]},
        params=ORDER,
    ),
    Case(
        "metadata claims the principal",
        *CREATE,
        "/body/events/0/metadata",
        body={"events": [ev(metadata={"principal": "root"})]},
        params=ORDER,
    ),
    Case(
        "streamId not a UUID",
        *CREATE,
        "/body/streamId",
        body={"streamId": "abc", "initialEvent": ev()},
        params=ORDER,
    ),
    Case(
        "stream type in path invalid",
        *CREATE,
        "/path/streamType",
        body={"initialEvent": ev()},
        params={"streamType": "bad type!"},
    ),
    Case(
        "duplicate event ids",
        *CREATE,
        "/body/events/1/eventId",
        body={"events": [ev(eventId=EXISTING), ev(eventId=EXISTING)]},
        params=ORDER,
    ),
    Case(
        "body not UTF-8",
        *CREATE,
        "/body",
        raw_body=base64.b64encode(b"\xff\xfe").decode(),
        params=ORDER,
        base64=True,
    ),
    Case(
        "oversize append",
        *CREATE,
        None,
        body={"events": [ev(payload=base64.b64encode(os.urandom(40_000)).decode())] * 100},  # > 5 MiB
        params=ORDER,
        status=413,
        problem=TOO_LARGE,
    ),
    Case(
        "negative expectedRevision",
        *BATCH,
        "/body/expectedRevision",
        body={"expectedRevision": -1, "events": [ev()]},
        params=STREAM,
    ),
    Case(
        "expectedRevision a word",
        *BATCH,
        "/body/expectedRevision",
        body={"expectedRevision": "latest", "events": [ev()]},
        params=STREAM,
    ),
    Case(
        "missing expectedRevision", *BATCH, "/body/expectedRevision", body={"events": [ev()]}, params=STREAM
    ),
    Case(
        "stream id with a trailing newline",
        *READ,
        "/path/streamId",
        params={**STREAM, "streamId": EXISTING + "\n"},
    ),
    Case(
        "stream id in path not a UUID",
        *BATCH,
        "/path/streamId",
        body={"expectedRevision": 1, "events": [ev()]},
        params={**STREAM, "streamId": "nope"},
    ),
    Case("PUT revision 0", *PUT, "/path/revision", body={"event": ev()}, params={**STREAM, "revision": "0"}),
    Case(
        "PUT revision negative",
        *PUT,
        "/path/revision",
        body={"event": ev()},
        params={**STREAM, "revision": "-1"},
    ),
    Case(
        "PUT revision not a number",
        *PUT,
        "/path/revision",
        body={"event": ev()},
        params={**STREAM, "revision": "abc"},
    ),
    Case(
        "PUT without event", *PUT, "/body/event", body={"events": [ev()]}, params={**STREAM, "revision": "2"}
    ),
    Case(
        "after-revision negative",
        *READ,
        "/query/after-revision",
        params=STREAM,
        query={"after-revision": "-1"},
    ),
    Case("limit zero", *READ, "/query/limit", params=STREAM, query={"limit": "0"}),
    Case(
        "after-revision huge",
        *READ,
        "/query/after-revision",
        params=STREAM,
        query={"after-revision": "9" * 5000},
    ),
    Case(
        "PUT revision huge",
        *PUT,
        "/path/revision",
        body={"event": ev()},
        params={**STREAM, "revision": "9" * 40},
    ),
    Case(
        "after-revision beyond 2^53 - 1",
        *READ,
        "/query/after-revision",
        params=STREAM,
        query={"after-revision": str(2**53)},
    ),
    Case(
        "PUT revision beyond 2^53 - 1",
        *PUT,
        "/path/revision",
        body={"event": ev()},
        params={**STREAM, "revision": str(2**53)},
    ),
    Case("limit too big", *LIST, "/query/limit", params=ORDER, query={"limit": "1001"}),
    Case(
        "misspelt query parameter",
        *READ,
        "/query/after_revision",
        params=STREAM,
        query={"after_revision": "5"},
    ),
    Case(
        "query parameter on a route without any",
        *CREATE,
        "/query/a~1b",
        body={"initialEvent": ev()},
        params=ORDER,
        query={"a/b": "1"},
    ),
    Case(
        "unknown query parameter on the listing",
        *LIST,
        "/query/updated_after",
        params=ORDER,
        query={"updated_after": "2020-01-01T00:00:00Z"},
    ),
    Case(
        "updated-after with 10 fraction digits",
        *LIST,
        "/query/updated-after",
        params=ORDER,
        query={"updated-after": "2026-01-01T00:00:00.1234567890Z"},
    ),
    Case(
        "updated-after not a date",
        *LIST,
        "/query/updated-after",
        params=ORDER,
        query={"updated-after": "yesterday"},
    ),
    Case(
        "page key forged",
        *LIST,
        "/query/stream-next-page-key",
        params=ORDER,
        query={"stream-next-page-key": "e30.AAAA"},
    ),
    Case(
        "page key forged, sent as the Go client's nextPageKey",
        *LIST,
        "/query/nextPageKey",
        params=ORDER,
        query={"nextPageKey": "e30.AAAA"},
    ),
    Case(
        "page key and its alias differ",
        *LIST,
        "/query/nextPageKey",
        params=ORDER,
        query={"stream-next-page-key": "e30.AAAA", "nextPageKey": "e30.BBBB"},
    ),
]


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, ModuleType], Any]]:
    monkeypatch.setenv("EVENTSTORE_TABLE_NAME", "events")
    monkeypatch.setenv("EVENTSTORE_PAGE_KEY_SECRET", "bad-input-tests-page-key-secret")
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, "events")
        for name, value in data_key_resources().items():
            monkeypatch.setenv(name, value)
        modules = {
            name: load_handler(name)
            for name in ("create_stream", "append_event", "read_events", "list_streams")
        }
        created = modules["create_stream"].handler(
            proxy_event(
                "POST", "/streams/{streamType}", ORDER, body={"streamId": EXISTING, "initialEvent": ev()}
            ),
            None,
        )
        assert created["statusCode"] == 201
        yield modules, client


def _table_items(client: Any) -> list[Any]:
    return sorted(json.dumps(i, sort_keys=True) for i in client.scan(TableName="events")["Items"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_the_field_named_and_nothing_written(
    handlers: tuple[dict[str, ModuleType], Any], case: Case
) -> None:
    modules, client = handlers
    before = _table_items(client)
    event = proxy_event(
        case.method, case.resource, case.params, body=case.body, raw_body=case.raw_body, query=case.query
    )
    event["isBase64Encoded"] = case.base64
    response = modules[case.function].handler(event, None)
    problem = json.loads(response["body"])
    assert (response["statusCode"], problem["type"]) == (case.status, case.problem), problem
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert_matches_schema(problem, "Problem")
    if case.field is not None:
        assert case.field in [p["name"] for p in problem["invalid-params"]], problem
    assert _table_items(client) == before


def test_a_failure_inside_the_store_is_a_500_problem_not_a_crash(
    handlers: tuple[dict[str, ModuleType], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    modules, _ = handlers
    module = modules["read_events"]

    def broken(*_args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(module.SERVICE.store, "describe", broken)
    response = module.handler(proxy_event("GET", "/streams/{streamType}/{streamId}/details", STREAM), None)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["type"] == "urn:eventstore:problem:internal-error"
    assert str(uuid.UUID(EXISTING)) == EXISTING


def _read(modules: dict[str, ModuleType], stream_id: str) -> dict[str, Any]:
    params = {**ORDER, "streamId": stream_id}
    response: dict[str, Any] = modules["read_events"].handler(proxy_event("GET", READ[2], params), None)
    return response


def test_events_at_the_deepest_accepted_nesting_are_read_back(
    handlers: tuple[dict[str, ModuleType], Any],
) -> None:
    """The limit holds for payload and metadata on every write route, and what it lets in renders."""
    modules, _ = handlers
    payload, metadata = {"p": nested(31)}, {"m": nested(30, leaf={"deep": True})}
    stream_id = str(uuid.uuid4())
    body = {"streamId": stream_id, "initialEvent": ev(payload=payload, metadata=metadata)}
    created = modules["create_stream"].handler(proxy_event(*CREATE[1:], ORDER, body=body), None)
    assert created["statusCode"] == 201, created["body"]
    params = {**ORDER, "streamId": stream_id}
    put = modules["append_event"].handler(
        proxy_event(*PUT[1:], {**params, "revision": "2"}, body={"event": ev(payload=nested(32))}), None
    )
    batch = modules["append_event"].handler(
        proxy_event(*BATCH[1:], params, body={"expectedRevision": 2, "events": [ev(metadata=metadata)]}),
        None,
    )
    assert (put["statusCode"], batch["statusCode"]) == (201, 201), (put["body"], batch["body"])
    read = _read(modules, stream_id)
    assert read["statusCode"] == 200, read["body"]
    page = json.loads(read["body"])
    assert_matches_schema(page, "EventPageResponse")
    events = page["eventPage"]["events"]
    assert [e["payload"] for e in events] == [payload, nested(32), None]
    assert events[0]["metadata"]["m"] == metadata["m"]
    assert events[2]["metadata"]["m"] == metadata["m"]


def test_an_event_stored_before_the_nesting_limit_still_reads(
    handlers: tuple[dict[str, ModuleType], Any],
) -> None:
    """Before the limit, 9,000-level payloads were accepted and every read of them failed (502)."""
    modules, _ = handlers
    levels = 9000
    deep = json.loads("[" * levels + '"leaf"' + "]" * levels)
    stream_id = str(uuid.uuid4())
    store = modules["read_events"].SERVICE.store
    old = NewEvent(str(uuid.uuid4()), "Old", payload=deep, metadata={"trace": deep})
    store.create("order", stream_id, [old], Caller(principal=None, request_id=None))
    read = _read(modules, stream_id)
    assert read["statusCode"] == 200
    assert read["headers"]["Content-Type"] == "application/json"
    text = read["body"]
    nested_text = "[" * levels + '"leaf"' + "]" * levels
    assert text.startswith('{"eventPage":{"events":[{"streamId":"' + stream_id)
    assert f'"payload":{nested_text},' in text
    assert f'"metadata":{{"trace":{nested_text}' in text


@pytest.mark.parametrize(
    ("updated_after", "listed"),
    [
        ("9999-12-31T23:59:59-01:00", False),  # year 10000 in UTC: after every update
        ("9999-12-31T23:59:59.999999Z", False),
        ("0001-01-01T00:00:00+01:00", True),  # year 0 in UTC: before every update
    ],
)
def test_updated_after_at_the_edge_of_the_date_range_is_answered(
    handlers: tuple[dict[str, ModuleType], Any],
    monkeypatch: pytest.MonkeyPatch,
    updated_after: str,
    *,
    listed: bool,
) -> None:
    """These times overflowed datetime when converted to UTC (500)."""
    modules, _ = handlers
    module = modules["list_streams"]
    store = module.SERVICE.store
    monkeypatch.setattr(
        store.listing, "_settling", dataclasses.replace(store.listing._settling, window=dt.timedelta(0))
    )
    response = module.handler(proxy_event(*LIST[1:], ORDER, query={"updated-after": updated_after}), None)
    assert response["statusCode"] == 200, response["body"]
    page = json.loads(response["body"])
    assert_matches_schema(page, "StreamPageResponse")
    assert [s["streamId"] for s in page["streamPage"]["streams"]] == ([EXISTING] if listed else [])
