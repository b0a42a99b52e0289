"""Requests per operation (item 2) and write units per appended event (item 3), on moto in-process.

Both go through the real handlers with real proxy events and DynamoDB Streams batches; requests are
counted at the client (botocore `before-call`), and the items written are captured from the calls'
parameters (`provide-client-params`) with the item before and after each write read back from moto, so
write units follow from what was actually written (bench.capacity has the rules).
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from bench.capacity import KB, ZERO, Index, Item, ReadRecorder, WriteCost, item_size, write_cost
from bench.harness import (
    REGION,
    TABLE,
    TOPIC_NAME,
    RequestCounter,
    by_service,
    function_environment,
    quiet_stdout,
    stream_event,
)
from bench.payloads import realistic_payload
from bench.report import Report, Row
from tests.support import load_handler, proxy_event

ORIGINAL_TABLE = "bench-original-design"
STREAM_TYPE = "order"
EVENTS_PER_STREAM = 1000
COALESCED_BATCH = 10
"""Commits of one stream per notify batch in the coalesced case (needs a batching window; see the note)."""

FEED_TYPE = "ledger"
FEED_STREAMS = 20
FEED_COMMIT_EVENTS = 10
FEED_EVENTS = 2000
"""The feed read: 2,000 events in 20 streams, commits of 10, appended round-robin (the feed interleaves)."""

ORIGINAL_EVENTS = 200
"""The original design's cost per event does not depend on the stream's length (its head item has a fixed
size), and moto copies the whole table for every TransactWriteItems: the first 200 of the events suffice."""

_ORIGINAL_INDEX = Index("StreamIndex", "StreamType", "UpdatedAt", ("StreamId", "Revision"), projected=None)


@dataclass
class _Pending:
    table: str
    key: dict[str, Any]
    old: Item | None
    new: Item | None
    """The item a Put writes; None for an update (read back after the call)."""


@dataclass
class WriteRecorder:
    """Write units of every DynamoDB write the clients make, from the items before and after it."""

    peek: Any
    """A DynamoDB client without these hooks, to read items back."""

    keys: Mapping[str, tuple[str, str]]
    indexes: Mapping[str, Sequence[Index]]
    costs: list[tuple[str, WriteCost]] = field(default_factory=list)
    shadow: dict[tuple[str, str], Item | None] = field(default_factory=dict)
    """The items as last written through the recorded clients (saves reading them back before a write)."""

    def register(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def total(self, operation: str | None = None) -> WriteCost:
        cost = ZERO
        for name, each in self.costs:
            if operation is None or name == operation:
                cost += each
        return cost

    def _get(self, table: str, key: Mapping[str, Any]) -> Item | None:
        shadowed = (table, json.dumps(key, sort_keys=True))
        if shadowed in self.shadow:
            return self.shadow[shadowed]
        item: Item | None = self.peek.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item

    def _read_back(self, table: str, key: Mapping[str, Any]) -> Item | None:
        self.forget(table, key)
        item = self._get(table, key)
        self.shadow[(table, json.dumps(key, sort_keys=True))] = item
        return item

    def forget(self, table: str, key: Mapping[str, Any]) -> None:
        self.shadow.pop((table, json.dumps(key, sort_keys=True)), None)

    def _key(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.keys[table]}

    def _before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        writes: list[_Pending] = []
        if model.name == "PutItem":
            key = self._key(params["TableName"], params["Item"])
            writes.append(
                _Pending(params["TableName"], key, self._get(params["TableName"], key), params["Item"])
            )
        elif model.name == "UpdateItem":
            key = dict(params["Key"])
            writes.append(_Pending(params["TableName"], key, self._get(params["TableName"], key), None))
        elif model.name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                if "Put" in entry:
                    put = entry["Put"]
                    key = self._key(put["TableName"], put["Item"])
                    writes.append(
                        _Pending(put["TableName"], key, self._get(put["TableName"], key), put["Item"])
                    )
                elif "Update" in entry:
                    update = entry["Update"]
                    key = dict(update["Key"])
                    writes.append(
                        _Pending(update["TableName"], key, self._get(update["TableName"], key), None)
                    )
        context["bench_writes"] = writes

    def _after(self, http_response: Any, model: Any, context: Mapping[str, Any], **_: Any) -> None:
        writes: list[_Pending] = context.get("bench_writes", [])
        if http_response.status_code != 200 or not writes:
            return
        transactional = model.name == "TransactWriteItems"
        cost = ZERO
        for write in writes:
            new = write.new if write.new is not None else self._read_back(write.table, write.key)
            self.shadow[(write.table, json.dumps(write.key, sort_keys=True))] = new
            cost += write_cost(write.old, new, indexes=self.indexes[write.table], transactional=transactional)
        self.costs.append((model.name, cost))


def _commit_items(peek: Any, stream_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "streamId = :id AND revision >= :one",
        "ExpressionAttributeValues": {":id": {"S": stream_id}, ":one": {"N": "1"}},
        "ConsistentRead": True,
    }
    while True:
        page = peek.query(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _Api:
    """The API functions, loaded as containers, called with proxy events."""

    def __init__(self) -> None:
        self.create = load_handler("create_stream")
        self.append = load_handler("append_event")
        self.read = load_handler("read_events")
        self.list = load_handler("list_streams")
        self.notify = load_handler("notify_stream")
        self.feed = load_handler("read_feed")

    @staticmethod
    def _call(module: Any, event: dict[str, Any], expected: int) -> dict[str, Any]:
        with quiet_stdout():
            response: dict[str, Any] = module.handler(event, None)
        if response["statusCode"] != expected:
            raise RuntimeError(f"expected {expected}, got {response['statusCode']}: {response['body']}")
        body: dict[str, Any] = json.loads(response["body"])
        return body

    def create_stream(self, events: list[dict[str, Any]]) -> str:
        body = {"events": events} if len(events) > 1 else {"initialEvent": events[0]}
        event = proxy_event("POST", "/streams/{streamType}", {"streamType": STREAM_TYPE}, body=body)
        stream_id: str = self._call(self.create, event, 201)["stream"]["streamId"]
        return stream_id

    def append_one(self, stream_id: str, revision: int, event: dict[str, Any]) -> None:
        params = {"streamType": STREAM_TYPE, "streamId": stream_id, "revision": str(revision)}
        resource = "/streams/{streamType}/{streamId}/events/{revision}"
        self._call(self.append, proxy_event("PUT", resource, params, body={"event": event}), 201)

    def append_many(self, stream_id: str, expected: int, events: list[dict[str, Any]]) -> None:
        params = {"streamType": STREAM_TYPE, "streamId": stream_id}
        body = {"expectedRevision": expected, "events": events}
        event = proxy_event("POST", "/streams/{streamType}/{streamId}/events", params, body=body)
        self._call(self.append, event, 201)

    def read_page(self, stream_id: str) -> None:
        params = {"streamType": STREAM_TYPE, "streamId": stream_id}
        event = proxy_event(
            "GET", "/streams/{streamType}/{streamId}/events", params, query={"after-revision": "0"}
        )
        self._call(self.read, event, 200)

    def list_page(self) -> None:
        event = proxy_event(
            "GET", "/streams/{streamType}", {"streamType": STREAM_TYPE}, query={"limit": "10"}
        )
        self._call(self.list, event, 200)

    def feed_page(self, after: str | None, limit: int, stream_type: str = FEED_TYPE) -> dict[str, Any]:
        query = {"limit": str(limit)} | ({"after-position": after} if after else {})
        event = proxy_event("GET", "/streams/{streamType}/feed", {"streamType": stream_type}, query=query)
        page: dict[str, Any] = self._call(self.feed, event, 200)["feedPage"]
        return page

    def create_typed(self, stream_type: str, events: list[dict[str, Any]]) -> str:
        event = proxy_event(
            "POST", "/streams/{streamType}", {"streamType": stream_type}, body={"events": events}
        )
        stream_id: str = self._call(self.create, event, 201)["stream"]["streamId"]
        return stream_id

    def append_typed(
        self, stream_type: str, stream_id: str, expected: int, events: list[dict[str, Any]]
    ) -> None:
        params = {"streamType": stream_type, "streamId": stream_id}
        body = {"expectedRevision": expected, "events": events}
        event = proxy_event("POST", "/streams/{streamType}/{streamId}/events", params, body=body)
        self._call(self.append, event, 201)

    def notify_batch(self, commits: list[dict[str, Any]]) -> None:
        with quiet_stdout():
            response = self.notify.handler(stream_event(commits), None)
        if response["batchItemFailures"]:
            raise RuntimeError(f"notify reported failures: {response}")


def _event(index: int, payload: Any = "small") -> dict[str, Any]:
    return {
        "eventId": str(uuid.uuid4()),
        "eventType": "OrderUpdated",
        "payload": payload,
        "metadata": {"n": index},
    }


def _original_append(client: Any, stream_id: str, revision: int, payload_text: str, now: str) -> None:
    """The original service's append: one TransactWriteItems of (head update/put) + (event put)."""
    event_item = {
        "StreamId": {"S": stream_id},
        "Revision": {"N": str(revision)},
        "EventType": {"S": "OrderUpdated"},
        "Payload": {"S": payload_text},
        "CreatedAt": {"S": now},
    }
    put_event = {
        "Put": {
            "TableName": ORIGINAL_TABLE,
            "Item": event_item,
            "ConditionExpression": "attribute_not_exists(Revision)",
        }
    }
    if revision == 1:
        head = {
            "Put": {
                "TableName": ORIGINAL_TABLE,
                "Item": {
                    "StreamId": {"S": stream_id},
                    "Revision": {"N": "0"},
                    "StreamType": {"S": STREAM_TYPE},
                    "StreamRevision": {"N": "1"},
                    "UpdatedAt": {"S": now},
                },
                "ConditionExpression": "attribute_not_exists(Revision)",
            }
        }
    else:
        head = {
            "Update": {
                "TableName": ORIGINAL_TABLE,
                "Key": {"StreamId": {"S": stream_id}, "Revision": {"N": "0"}},
                "UpdateExpression": "SET StreamRevision = :new, UpdatedAt = :now",
                "ConditionExpression": "StreamRevision = :previous",
                "ExpressionAttributeValues": {
                    ":new": {"N": str(revision)},
                    ":previous": {"N": str(revision - 1)},
                    ":now": {"S": now},
                },
            }
        }
    client.transact_write_items(TransactItems=[head, put_event])


def _create_original_table(client: Any) -> None:
    client.create_table(
        TableName=ORIGINAL_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "StreamId", "AttributeType": "S"},
            {"AttributeName": "Revision", "AttributeType": "N"},
            {"AttributeName": "StreamType", "AttributeType": "S"},
            {"AttributeName": "UpdatedAt", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "StreamId", "KeyType": "HASH"},
            {"AttributeName": "Revision", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "StreamIndex",
                "KeySchema": [
                    {"AttributeName": "StreamType", "KeyType": "HASH"},
                    {"AttributeName": "UpdatedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@dataclass(frozen=True, slots=True)
class CapacityFigures:
    ours_per_commit: float
    ours_coalesced: float
    original: float
    append_table: float
    summary_per_commit: float
    rru_per_append: float


def run(report: Report, *, events_per_stream: int = EVENTS_PER_STREAM) -> CapacityFigures:
    from moto import mock_aws  # noqa: PLC0415 - only this section needs moto

    with function_environment(), mock_aws():
        from eventstore import service  # noqa: PLC0415 - after the layer is on the path
        from eventstore.table import create_table, layout  # noqa: PLC0415 - after the layer is on the path

        service.aws_session.cache_clear()  # a fresh session: this run's counters only
        peek = boto3.session.Session(region_name=REGION).client("dynamodb")
        create_table(peek, TABLE)
        _create_original_table(peek)
        boto3.session.Session(region_name=REGION).client("sns").create_topic(Name=TOPIC_NAME)
        shape = layout()
        ours = Index(
            shape.listing_index,
            shape.listing_hash_key,
            shape.listing_range_key,
            (shape.hash_key, shape.range_key),
            tuple(shape.definition["global_secondary_indexes"][0]["non_key_attributes"]),
        )
        counter = RequestCounter()
        recorder = WriteRecorder(
            peek,
            keys={TABLE: (shape.hash_key, shape.range_key), ORIGINAL_TABLE: ("StreamId", "Revision")},
            indexes={TABLE: [ours], ORIGINAL_TABLE: [_ORIGINAL_INDEX]},
        )
        events = service.aws_session().get_component("event_emitter")
        counter.register(events)  # the session the handlers' clients come from
        recorder.register(events)
        reads = ReadRecorder()
        reads.register(events)
        api = _Api()
        notify_reads = _requests(report, api, counter, peek, listing_shards=shape.listing_shards)
        try:
            _feed_reads(report, api, counter, reads, peek)
            for share in TYPE_SHARES:
                _type_feed_reads(report, api, counter, reads, peek, share=share)
        except Exception as exc:  # noqa: BLE001 - report, do not stop the bench
            report.add(Row("2 requests", "feed read per 1,000 events", None, note=f"failed: {exc!r}"[:200]))
        return _capacity(report, api, recorder, peek, events_per_stream, notify_reads=notify_reads)


def _request_row(name: str, calls: Mapping[str, int], *, per: float = 1, target: int | None = None) -> Row:
    dynamodb = by_service(calls, "dynamodb") / per
    sns = by_service(calls, "sns") / per
    detail = ", ".join(f"{k.split('.', 1)[1]}x{v}" for k, v in sorted(calls.items()))
    return Row(
        "2 requests",
        name,
        dynamodb,
        "DynamoDB req",
        f"<= {target}" if target is not None else "",
        (dynamodb <= target) if target is not None else None,
        f"SNS {sns:g}; {detail}" + (f" per {per:g} records" if per != 1 else ""),
    )


def _requests(report: Report, api: _Api, counter: RequestCounter, peek: Any, *, listing_shards: int) -> int:
    with counter.measure() as calls:
        stream_id = api.create_stream([_event(1)])
    report.add(_request_row("create (1 event)", calls))
    with counter.measure() as calls:
        api.append_one(stream_id, 2, _event(2))
    report.add(_request_row("append, 1 event", calls, target=2))
    with counter.measure() as calls:
        api.append_many(stream_id, 2, [_event(i) for i in range(3, 13)])
    report.add(_request_row("append, 10 events", calls, target=2))
    with counter.measure() as calls:
        api.read_page(stream_id)
    report.add(_request_row("read page (12 events)", calls, target=1))

    try:
        notify_reads = _notify_requests(report, api, counter, peek, stream_id)
    except Exception as exc:  # noqa: BLE001 - notify_stream is being written; report, do not stop the bench
        report.add(
            Row("2 requests", "notify per record", None, note=f"pending: notify_stream failed: {exc!r}")
        )
    with counter.measure() as calls:
        api.list_page()
    # A Query per index shard of the type + a BatchGetItem dropping entries a newer commit superseded.
    report.add(_request_row("list page (limit 10)", calls, target=listing_shards + 1))
    return notify_reads


def _feed_reads(report: Report, api: _Api, counter: RequestCounter, reads: ReadRecorder, peek: Any) -> None:
    """DynamoDB requests and read units per 1,000 events read through a type's feed, pages of 1,000."""
    per_stream = FEED_EVENTS // FEED_STREAMS

    def batch(start: int) -> list[dict[str, Any]]:
        return [_event(start + i, realistic_payload(start + i)) for i in range(FEED_COMMIT_EVENTS)]

    ids = [api.create_typed(FEED_TYPE, batch(s * per_stream)) for s in range(FEED_STREAMS)]
    for revision in range(FEED_COMMIT_EVENTS, per_stream, FEED_COMMIT_EVENTS):
        for s, stream_id in enumerate(ids):
            api.append_typed(FEED_TYPE, stream_id, revision, batch(s * per_stream + revision))
    commits = sorted(
        (item for stream_id in ids for item in _commit_items(peek, stream_id)),
        key=lambda item: int(item["revision"]["N"]),
    )
    for start in range(0, len(commits), 100):  # notify_stream's batches, as the event source mapping sends
        api.notify_batch(commits[start : start + 100])
    before = reads.units
    read, after = 0, None
    with counter.measure() as calls:
        while True:
            page = api.feed_page(after, 1000)
            read += len(page["events"])
            after = page.get("lastPosition", after)
            if not page["hasMore"]:
                break
    if read != FEED_EVENTS:
        raise RuntimeError(f"the feed held {read} events, expected {FEED_EVENTS}")
    per = read / 1000
    report.add(
        Row(
            "2 requests",
            "feed read, per 1,000 events",
            by_service(calls, "dynamodb") / per,
            "DynamoDB req",
            note=", ".join(f"{k.split('.', 1)[1]}x{v}" for k, v in sorted(calls.items()))
            + f" for {read} events ({FEED_STREAMS} streams, commits of {FEED_COMMIT_EVENTS}, pages of 1,000)",
        )
    )
    report.add(
        Row(
            "2 requests",
            "feed read units per 1,000 events",
            (reads.units - before) / per,
            "RRU",
            note="eventually consistent (0.5 RRU per started 4 KB; each BatchGetItem item rounds up "
            "alone); 1 KB realistic payloads",
        )
    )


def _pending(commits: Mapping[str, Sequence[Any]], _cursors: Any) -> Mapping[str, Sequence[Any]]:
    return commits


TYPE_SHARES = (0.1, 1.0)
"""A type feed read where the type is 10% and 100% of the traffic (the rest: other types)."""
TYPE_SHARE_EVENTS = 1000
TYPE_SHARE_STREAMS = 10


def _type_feed_reads(
    report: Report, api: _Api, counter: RequestCounter, reads: ReadRecorder, peek: Any, *, share: float
) -> None:
    """Requests and read units per 1,000 events of a type feed, the type `share` of the traffic: commits of
    10 events, one commit per notify batch (so one all-types item each, the most items; blocks close and
    are indexed). Written through the store's own writer, not counted; read through read_feed, counted."""
    from eventstore.appends import NewEvent  # noqa: PLC0415 - the layer is on the path
    from eventstore.domain import ANY_REVISION, Caller  # noqa: PLC0415
    from eventstore.dynamodb.store import DynamoEventStore  # noqa: PLC0415 - the layer is on the path now
    from eventstore.feedwriter import FeedWriter  # noqa: PLC0415 - the layer is on the path now

    caller = Caller(None, None)
    store = DynamoEventStore(peek, TABLE)
    writer = FeedWriter(store)
    stream_type = f"share{round(share * 100)}"
    commits = round(TYPE_SHARE_EVENTS / FEED_COMMIT_EVENTS / share)
    every = round(1 / share)
    ids: dict[str, list[str]] = {}
    for index in range(commits):
        typed = stream_type if index % every == 0 else f"other{index % 7}"
        streams = ids.setdefault(typed, [])
        numbers = range(index * FEED_COMMIT_EVENTS, (index + 1) * FEED_COMMIT_EVENTS)
        sent = [NewEvent(str(uuid.uuid4()), "OrderUpdated", realistic_payload(n)) for n in numbers]
        if len(streams) < TYPE_SHARE_STREAMS:
            stream_id = str(uuid.uuid4())
            streams.append(stream_id)
            result = store.create(typed, stream_id, sent, caller)
        else:
            stream_id = streams[index % TYPE_SHARE_STREAMS]
            result = store.append(typed, stream_id, ANY_REVISION, sent, caller)
        fed = {stream_id: store.commits_between(stream_id, result.first_revision, result.first_revision)}
        writer.finish(writer.feed([stream_id], functools.partial(_pending, fed)))
    before = reads.units
    read, after = 0, None
    with counter.measure() as calls:
        while True:
            page = api.feed_page(after, 1000, stream_type)
            read += len(page["events"])
            after = page.get("lastPosition", after)
            if not page["hasMore"]:
                break
    if read != TYPE_SHARE_EVENTS:
        raise RuntimeError(f"the {stream_type} feed held {read} events, expected {TYPE_SHARE_EVENTS}")
    how = f"type {share:.0%} of {commits} commits of {FEED_COMMIT_EVENTS}, 1 commit per all-types item"
    report.add(
        Row(
            "2 requests",
            f"type feed ({share:.0%} of traffic) read, per 1,000 events",
            by_service(calls, "dynamodb"),
            "DynamoDB req",
            note=", ".join(f"{k.split('.', 1)[1]}x{v}" for k, v in sorted(calls.items())) + f"; {how}",
        )
    )
    report.add(
        Row(
            "2 requests",
            f"type feed ({share:.0%} of traffic) read units per 1,000 events",
            reads.units - before,
            "RRU",
            note="eventually consistent; the block index, the items it names, the commits",
        )
    )


def _notify_requests(report: Report, api: _Api, counter: RequestCounter, peek: Any, stream_id: str) -> int:
    """Notify's requests per record; returns its DynamoDB reads for a batch of one record."""
    commits = _commit_items(peek, stream_id)
    with counter.measure() as calls:
        api.notify_batch(commits[:1])
    report.add(_request_row("notify, batch of 1 record", calls))
    reads = calls["dynamodb.GetItem"] + calls["dynamodb.Query"]
    with counter.measure() as calls:
        api.notify_batch(commits[1:])
    report.add(_request_row("notify, 2 commits of 1 stream", calls, per=2))
    others = []
    for index in range(10):
        other = api.create_stream([_event(index)])
        others += _commit_items(peek, other)
    with counter.measure() as calls:
        api.notify_batch(others)
    report.add(_request_row("notify, 10 records of 10 streams", calls, per=10))
    return reads


@dataclass(frozen=True, slots=True)
class _NotifyCost:
    """Write units of notify_stream per appended event: the feed items it appends, its cursor update."""

    feed: float
    cursor: float

    @property
    def total(self) -> float:
        return self.feed + self.cursor


def _notify_cost(
    api: _Api, recorder: WriteRecorder, commits: list[dict[str, Any]], batch: int
) -> _NotifyCost:
    """notify_stream over `commits` (revision 1 onwards), `batch` commits per Lambda batch; per commit after
    the first (the create's commit makes the stream's summary, a one-off)."""
    api.notify_batch(commits[:1])
    recorder.costs.clear()
    for start in range(1, len(commits), batch):
        api.notify_batch(commits[start : start + batch])
    appended = len(commits) - 1
    return _NotifyCost(
        feed=recorder.total("PutItem").total / appended, cursor=recorder.total("UpdateItem").total / appended
    )


def _capacity(
    report: Report, api: _Api, recorder: WriteRecorder, peek: Any, events: int, *, notify_reads: int
) -> CapacityFigures:
    stream_id = api.create_stream([_event(1, realistic_payload(1))])
    recorder.costs.clear()
    for revision in range(2, events + 1):
        api.append_one(stream_id, revision, _event(revision, realistic_payload(revision)))
    appended = events - 1
    append_cost = recorder.total("PutItem")
    commits = _commit_items(peek, stream_id)
    # A second stream for the coalesced case: its summary and feed entries start afresh.
    coalesced_events = min(events, ORIGINAL_EVENTS)
    coalesced_id = api.create_stream([_event(1, realistic_payload(10**6))])
    for revision in range(2, coalesced_events + 1):
        api.append_one(coalesced_id, revision, _event(revision, realistic_payload(10**6 + revision)))
    try:
        per_commit = _notify_cost(api, recorder, commits, 1)
        coalesced = _notify_cost(api, recorder, _commit_items(peek, coalesced_id), COALESCED_BATCH)
        pending = ""
    except Exception as exc:  # noqa: BLE001 - report, do not stop the bench
        per_commit = coalesced = _NotifyCost(math.nan, math.nan)
        pending = f"pending: notify_stream failed: {exc!r}"[:200]
    summary_per_commit, summary_coalesced = per_commit.total, coalesced.total

    recorder.costs.clear()
    original_id = str(uuid.uuid4())
    payload_text = json.dumps(realistic_payload(1), separators=(",", ":"))
    from eventstore.service import dynamodb_client  # noqa: PLC0415 - the layer is on the path now

    client = dynamodb_client()  # from the handlers' session: counted and recorded
    for revision in range(1, min(events, ORIGINAL_EVENTS) + 1):
        now = f"2026-11-27T12:00:{revision // 1000:02d}.{revision % 1000:03d}000Z"
        _original_append(client, original_id, revision, payload_text, now)
    original_total = recorder.total("TransactWriteItems")
    # The first event of each is a create (a put of a new head): compare the steady-state appends.
    original_first = recorder.costs[0][1]
    original = (original_total.total - original_first.total) / (min(events, ORIGINAL_EVENTS) - 1)

    ours_table = append_cost.total / appended
    ours_per_commit = ours_table + summary_per_commit
    ours_coalesced = ours_table + summary_coalesced
    target = 0.5 * original
    section = "3 write units"
    report.add(
        Row(
            section,
            "original design, per event",
            original,
            "WRU",
            note=f"transaction x2 (head update, event put), GSI delete+put; {original_first.total} on create",
        )
    )
    report.add(
        Row(
            section,
            "ours, notify batch of 1 commit (worst case)",
            None if pending else ours_per_commit,
            "WRU",
            f"<= {target:g} (0.5x)",
            None if pending else ours_per_commit <= target,
            pending
            or f"{ours_per_commit / original:.2f}x; commit + its index entry {ours_table:g}, "
            f"feed items {per_commit.feed:.2f}, notify cursor {per_commit.cursor:.2f}",
        )
    )
    report.add(
        Row(
            section,
            f"ours, notify coalescing {COALESCED_BATCH} commits/stream/batch",
            None if pending else ours_coalesced,
            "WRU",
            f"<= {target:g} (0.5x)",
            None if pending else ours_coalesced <= target,
            pending
            or f"{ours_coalesced / original:.2f}x; feed items {coalesced.feed:.2f}, notify cursor "
            f"{coalesced.cursor:.2f}; batching window",
        )
    )
    return CapacityFigures(
        ours_per_commit=ours_per_commit,
        ours_coalesced=ours_coalesced,
        original=original,
        append_table=ours_table,
        summary_per_commit=summary_per_commit,
        # The append's consistent Query of the newest commit, and notify's read of the summary (both < 4 KB;
        # counted as strongly consistent: an upper bound).
        rru_per_append=math.ceil(item_size(commits[-1]) / (4 * KB)) + notify_reads,
    )
