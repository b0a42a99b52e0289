"""The whole local store (subprocess, --require-iam) over real sockets with SigV4-signed requests."""

import base64
import json
import os
import threading
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from eventstore.table import layout
from local_runtime.testing import LocalStore, Response, SignedHttp


@pytest.fixture(scope="module")
def api(local_store: LocalStore) -> SignedHttp:
    return local_store.client()


def _type() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _event(event_type: str = "happened", **extra: Any) -> dict[str, Any]:
    return {"eventType": event_type, "payload": json.dumps({"n": extra.pop("n", 0)}), **extra}


def _create(api: SignedHttp, stream_type: str, **body: Any) -> dict[str, Any]:
    response = api.request("POST", f"/streams/{stream_type}", body or {"initialEvent": _event()})
    assert response.status == 201, response.body
    stream: dict[str, Any] = response.json()["stream"]
    return stream


def _problem_type(response: Response) -> str:
    problem_type: str = response.json()["type"]
    return problem_type


def test_the_emulator_holds_the_resources_from_the_shared_definitions(local_store: LocalStore) -> None:
    dynamodb = boto3.client("dynamodb", **local_store.boto3_kwargs())
    table = dynamodb.describe_table(TableName=local_store.table_name)["Table"]
    definition = layout().definition
    assert {k["AttributeName"] for k in table["KeySchema"]} == {
        definition["hash_key"],
        definition["range_key"],
    }
    assert [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])] == [
        layout().listing_index,
        layout().removal_index,
    ]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": definition["stream_view_type"],
    }
    assert table["LatestStreamArn"] == local_store.stream_arn
    sns = boto3.client("sns", **local_store.boto3_kwargs())
    assert (
        sns.get_topic_attributes(TopicArn=local_store.topic_arn)["Attributes"]["TopicArn"]
        == local_store.topic_arn
    )
    sqs = boto3.client("sqs", **local_store.boto3_kwargs())
    assert sqs.get_queue_attributes(QueueUrl=local_store.on_failure_queue_url, AttributeNames=["QueueArn"])


def test_concurrent_conditional_puts_through_the_emulator_have_one_winner(local_store: LocalStore) -> None:
    dynamodb = boto3.client("dynamodb", **local_store.boto3_kwargs())
    table = f"concurrency-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    )
    for round_ in range(5):
        barrier = threading.Barrier(12)
        winners: list[int] = []
        errors: list[str] = []

        def put(
            writer: int,
            key: str = f"key-{round_}",
            barrier: threading.Barrier = barrier,
            winners: list[int] = winners,
            errors: list[str] = errors,
        ) -> None:
            client = boto3.client("dynamodb", **local_store.boto3_kwargs())
            barrier.wait()
            try:
                client.put_item(
                    TableName=table,
                    Item={"k": {"S": key}, "writer": {"N": str(writer)}},
                    ConditionExpression="attribute_not_exists(k)",
                )
                winners.append(writer)
            except ClientError as exc:
                errors.append(exc.response["Error"]["Code"])

        threads = [threading.Thread(target=put, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1
        assert errors == ["ConditionalCheckFailedException"] * 11
        stored = dynamodb.get_item(TableName=table, Key={"k": {"S": f"key-{round_}"}})["Item"]
        assert stored["writer"] == {"N": str(winners[0])}


def test_every_attribute_type_round_trips_through_the_emulator(local_store: LocalStore) -> None:
    dynamodb = boto3.client("dynamodb", **local_store.boto3_kwargs())
    streams = boto3.client("dynamodbstreams", **local_store.boto3_kwargs())
    table = f"types-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    scalars: dict[str, Any] = {
        "s": {"S": "text"},
        "n": {"N": "-1.5"},
        "b": {"B": b"\x00\xff"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "null": {"NULL": True},
        "bool": {"BOOL": False},
    }
    item = {
        "k": {"S": "key"},
        **scalars,
        "m": {"M": scalars},
        "l": {"L": [{"M": scalars}, *scalars.values()]},
    }
    dynamodb.put_item(TableName=table, Item=item)

    assert dynamodb.get_item(TableName=table, Key={"k": {"S": "key"}}, ConsistentRead=True)["Item"] == item
    (queried,) = dynamodb.query(
        TableName=table, KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "key"}}
    )["Items"]
    assert queried == item
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    (record,) = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert record["dynamodb"]["NewImage"] == item


@pytest.mark.slow
def test_a_partition_query_costs_the_same_in_a_bigger_table(local_store: LocalStore) -> None:
    """Each append queries its stream's partition: that must not slow down as other streams grow."""
    dynamodb = boto3.client("dynamodb", **local_store.boto3_kwargs())
    table = f"scaling-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "p", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
    )
    for revision in range(1, 11):
        dynamodb.put_item(TableName=table, Item={"p": {"S": "mine"}, "r": {"N": str(revision)}})

    def fastest_query() -> float:
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            newest = dynamodb.query(
                TableName=table,
                KeyConditionExpression="p = :p AND r >= :r",
                ExpressionAttributeValues={":p": {"S": "mine"}, ":r": {"N": "1"}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )["Items"]
            timings.append(time.perf_counter() - started)
            assert newest == [{"p": {"S": "mine"}, "r": {"N": "10"}}]
        return min(timings)

    small = fastest_query()
    for batch in range(100):
        requests: Any = [
            {"PutRequest": {"Item": {"p": {"S": f"other-{batch}-{i}"}, "r": {"N": "1"}}}} for i in range(25)
        ]
        dynamodb.batch_write_item(RequestItems={table: requests})
    assert fastest_query() < 3 * small + 0.005  # moto itself sorts the whole table: ~20x slower here


def test_unsigned_and_wrongly_signed_requests_are_refused(api: SignedHttp) -> None:
    unsigned = api.request("GET", "/liveness-check", sign=False)
    assert (unsigned.status, unsigned.json()) == (403, {"message": "Missing Authentication Token"})
    wrong = api.request("POST", f"/streams/{_type()}", {"initialEvent": _event()}, secret_key="nope")
    assert wrong.status == 403
    assert wrong.json()["message"].startswith("The request signature we calculated does not match")


def test_liveness(api: SignedHttp) -> None:
    response = api.request("GET", "/liveness-check")
    assert response.status == 200
    assert response.json()["status"] == "ok"


def test_create_append_conflict_idempotent_retry_and_details(api: SignedHttp) -> None:
    stream_type = _type()
    stream = _create(api, stream_type)
    assert stream["revision"] == 1
    base = f"/streams/{stream_type}/{stream['streamId']}"

    single = api.request("PUT", f"{base}/events/2", {"event": _event(n=2)})
    assert (single.status, single.json()["stream"]["revision"]) == (201, 2)

    batch = {"expectedRevision": 2, "events": [_event(n=n, eventId=str(uuid.uuid4())) for n in (3, 4, 5)]}
    appended = api.request("POST", f"{base}/events", batch)
    assert (appended.status, appended.json()["stream"]["revision"]) == (201, 5)
    replay = api.request("POST", f"{base}/events", batch)
    assert (replay.status, replay.json()["stream"]["revision"]) == (201, 5)
    assert replay.headers.get("Idempotent-Replay") == "true"

    conflict = api.request("PUT", f"{base}/events/3", {"event": _event()})
    assert conflict.status == 409
    assert _problem_type(conflict) == "urn:eventstore:problem:wrong-expected-revision"

    details = api.request("GET", f"{base}/details")
    assert (details.status, details.json()["stream"]["revision"]) == (200, 5)
    events = api.request("GET", f"{base}/events").json()["eventPage"]["events"]
    assert [(e["revision"], json.loads(e["payload"])["n"]) for e in events] == [
        (1, 0),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 5),
    ]


@pytest.mark.slow
def test_paged_reads_of_a_2500_event_stream(api: SignedHttp) -> None:
    stream_type = _type()
    stream = _create(api, stream_type, events=[_event(n=n) for n in range(1, 101)])
    base = f"/streams/{stream_type}/{stream['streamId']}"
    for first in range(101, 2501, 100):
        body = {"expectedRevision": first - 1, "events": [_event(n=n) for n in range(first, first + 100)]}
        assert api.request("POST", f"{base}/events", body).status == 201
    revisions: list[int] = []
    after, pages = 0, 0
    while True:
        page = api.request("GET", f"{base}/events?after-revision={after}&limit=1000").json()["eventPage"]
        pages += 1
        revisions += [e["revision"] for e in page["events"]]
        after = page["lastEvaluatedRevision"]
        if not page["hasMore"]:
            break
    assert revisions == list(range(1, 2501))
    assert pages == 3


def _listed(api: SignedHttp, stream_type: str, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    query, pages = f"limit={limit}", 0
    while True:
        response = api.request("GET", f"/streams/{stream_type}?{query}")
        assert response.status == 200, response.body
        page = response.json()["streamPage"]
        pages += 1
        ids += [s["streamId"] for s in page["streams"]]
        if not page["hasMore"]:
            return ids, pages
        query = f"limit={limit}&stream-next-page-key={page['nextPageKey']}"


def test_listing_pages_through_every_stream_of_a_type(api: SignedHttp) -> None:
    stream_type = _type()
    created = {_create(api, stream_type)["streamId"] for _ in range(5)}
    _create(api, _type())  # another type is never listed
    deadline = time.monotonic() + 10
    while True:
        ids, pages = _listed(api, stream_type, limit=2)
        if set(ids) == created or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert sorted(ids) == sorted(created)
    assert pages >= 3


def test_a_stream_is_listed_right_after_it_is_created(api: SignedHttp) -> None:
    stream_type = _type()
    created = _create(api, stream_type)
    response = api.request("GET", f"/streams/{stream_type}")
    assert response.status == 200, response.body
    page = response.json()["streamPage"]
    assert [(s["streamId"], s["revision"]) for s in page["streams"]] == [(created["streamId"], 1)]
    assert page["hasMore"] is False
    # Not settled yet (the default settle window is 1 s): a poll from settledUntil lists it again.
    assert page["settledUntil"] < created["updatedAt"]


def test_a_filtered_queue_receives_exactly_the_matching_notifications_in_order(
    local_store: LocalStore,
) -> None:
    api = local_store.client()
    sns = boto3.client("sns", **local_store.boto3_kwargs())
    sqs = boto3.client("sqs", **local_store.boto3_kwargs())
    wanted, other = _type(), _type()
    queue_url = sqs.create_queue(QueueName=f"subscriber-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=local_store.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"StreamType": [wanted]}), "RawMessageDelivery": "true"},
    )
    expected: dict[str, list[str]] = {}
    for stream_type in (wanted, other, wanted):
        stream = _create(api, stream_type)
        for revision in range(2, 5):
            path = f"/streams/{stream_type}/{stream['streamId']}/events/{revision}"
            assert api.request("PUT", path, {"event": _event(n=revision)}).status == 201
        if stream_type == wanted:
            expected[stream["streamId"]] = ["1", "2", "3", "4"]

    received: dict[str, list[str]] = {}
    deadline = time.monotonic() + 10
    while sum(map(len, received.values())) < 8 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            body = json.loads(message["Body"])
            assert body["StreamType"] == wanted
            received.setdefault(body["StreamId"], []).append(body["StreamRevision"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    time.sleep(0.5)  # anything more would be a notification that should not exist
    extra = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert received == expected
    assert extra == []


def test_the_demo_queue_receives_the_notifications(local_store: LocalStore, api: SignedHttp) -> None:
    # `make run` prints this queue with a ready-to-paste `eventstore tail --queue` line.
    assert f"tail --queue {local_store.demo_queue_url}" in local_store.log_file.read_text()
    stream = _create(api, _type())
    sqs = boto3.client("sqs", **local_store.boto3_kwargs())
    deadline, revisions = time.monotonic() + 15, list[str]()
    while not revisions and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=local_store.demo_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        bodies = [json.loads(m["Body"]) for m in messages]  # raw delivery: the notification itself
        revisions = [b["StreamRevision"] for b in bodies if b.get("StreamId") == stream["streamId"]]
    assert revisions == ["1"]


def test_a_large_payload_round_trips_through_the_emulators_bucket(
    api: SignedHttp, local_store: LocalStore
) -> None:
    stream_type = _type()
    stream = _create(api, stream_type)
    payload = {"scan": base64.b64encode(os.urandom(3_400_000)).decode()}  # 4.5 MB, barely compressible
    path = f"/streams/{stream_type}/{stream['streamId']}/events"
    body = {"expectedRevision": 1, "events": [{"eventType": "scanned", "payload": payload}]}
    written = api.request("POST", path, body)
    assert written.status == 201, written.body
    read = api.request("GET", path)
    assert read.status == 200
    assert read.json()["eventPage"]["events"][1]["payload"] == payload
    s3 = boto3.client("s3", **local_store.boto3_kwargs())
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith("-payloads")]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{stream['streamId']}/")
    assert len(listed["Contents"]) == 1
