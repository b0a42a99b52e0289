"""The local runtime's moto speed-ups give moto's own answers: item sizes equal un-patched moto's for every
attribute type and nesting, and BatchGetItem and Query return what un-patched moto returns."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from local_runtime import moto_speedups
from tests.local_runtime.test_dynamodb_json import _items, _values
from tests.support import ROOT

TABLE = "speedups"


def _unpatched_value_size(value: DynamoType) -> int:
    """moto's DynamoType.size as released: a map's values sized through new, recursively copied wrappers."""
    if value.is_map():
        return sum(len(k.encode()) + _unpatched_value_size(DynamoType(v)) for k, v in value.value.items())
    if value.is_list():
        return sum(_unpatched_value_size(v) for v in value.value)
    return moto_speedups.UNPATCHED_VALUE_SIZE(value)


@given(_values)
def test_a_value_is_sized_as_moto_sizes_it(value: dict[str, Any]) -> None:
    moto_speedups.install()
    assert DynamoType(value).size() == _unpatched_value_size(DynamoType(value))


@given(_items)
def test_an_item_is_sized_as_moto_sizes_it(attributes: dict[str, Any]) -> None:
    moto_speedups.install()
    item = Item(DynamoType({"S": "id"}), None, {"id": {"S": "id"}, **attributes})
    unpatched = sum(len(k.encode()) + _unpatched_value_size(v) for k, v in item.attrs.items())
    assert item.size() == unpatched


def _create_table(client: Any, name: str, string_attributes: tuple[str, ...] = (), **options: Any) -> None:
    """A table keyed (id S, n N), with `string_attributes` defined for its indexes' keys."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
            *({"AttributeName": attribute, "AttributeType": "S"} for attribute in string_attributes),
        ],
        BillingMode="PAY_PER_REQUEST",
        **options,
    )


def _load(client: Any) -> None:
    _create_table(client, TABLE)
    # 300 KB items: 60 of them pass both BatchGetItem's 16 MB and Query's 1 MB limits.
    nested = {"M": {f"k{i}": {"L": [{"S": "x" * 1000}, {"N": str(i)}]} for i in range(300)}}
    for n in range(60):
        client.put_item(TableName=TABLE, Item={"id": {"S": "a"}, "n": {"N": str(n)}, "doc": nested})


def _answers(client: Any) -> dict[str, Any]:
    keys = [{"id": {"S": "a"}, "n": {"N": str(n)}} for n in range(60)]
    batch = client.batch_get_item(RequestItems={TABLE: {"Keys": keys}})
    query = client.query(
        TableName=TABLE,
        KeyConditionExpression="id = :a",
        ExpressionAttributeValues={":a": {"S": "a"}},
    )
    return {
        "batch": sorted(int(i["n"]["N"]) for i in batch["Responses"][TABLE]),
        "unprocessed": sorted(int(k["n"]["N"]) for k in batch["UnprocessedKeys"][TABLE]["Keys"]),
        "query": [int(i["n"]["N"]) for i in query["Items"]],
        "next": query.get("LastEvaluatedKey"),
        "items": batch["Responses"][TABLE][0] == query["Items"][0],
    }


def _unpatched_answers() -> Any:
    """The same requests in a fresh interpreter, where moto is not patched."""
    code = (
        "import json, boto3\nfrom moto import mock_aws\n"
        "from tests.local_runtime import test_moto_speedups as t\n"
        "with mock_aws():\n"
        "    c = boto3.client('dynamodb', region_name='us-east-1')\n"
        "    t._load(c)\n"
        "    print(json.dumps(t._answers(c)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_limits_cut_batch_gets_and_queries_where_unpatched_moto_cuts_them() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        moto_speedups.install()
        _load(client)
        patched = _answers(client)
    assert patched == _unpatched_answers()
    assert patched["unprocessed"]  # the 16 MB limit is reached, so the sizes are compared
    assert patched["next"]  # and the 1 MB one


def test_responses_get_their_request_id_as_before() -> None:
    moto_speedups.install()
    headers, body = BaseResponse._enrich_response({"status": "200"}, '{"Items":[]}')
    assert body == '{"Items":[]}'
    assert headers["status"] == "200"
    request_id = headers["x-amzn-requestid"]
    assert request_id
    xml = "<R><RequestId>old</RequestId></R>"
    headers, body = BaseResponse._enrich_response({}, xml)
    assert body == f"<R><RequestId>{headers['x-amzn-requestid']}</RequestId></R>"


_ORDERED_TABLE = "ordered"
_QUERY_KEYS = [*range(-5, 45, 2), 7.5, 1000]
_OPERATORS = ("=", "<", "<=", ">", ">=", "BETWEEN")


def _ordered_client() -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    _create_table(client, _ORDERED_TABLE)
    for partition in ("a", "b"):
        for n in _QUERY_KEYS:
            client.put_item(TableName=_ORDERED_TABLE, Item={"id": {"S": partition}, "n": {"N": str(n)}})
    return client


@settings(deadline=None, max_examples=60)  # a table per example, on a shared machine
@given(
    operator=st.sampled_from(_OPERATORS),
    bounds=st.lists(st.sampled_from([-10, -5, 0, 3, 7.5, 8, 21, 43, 1000, 2000]), min_size=2, max_size=2),
    limit=st.none() | st.integers(1, 30),
    forward=st.booleans(),
    start=st.none() | st.sampled_from(_QUERY_KEYS),
)
def test_a_partition_query_returns_what_the_key_condition_selects(
    operator: str, bounds: list[float], limit: int | None, start: float | None, *, forward: bool
) -> None:
    """Partitions are cut to the key condition by bisection: a query still returns exactly the items the
    condition, the order, the start key and the limit select (by DynamoDB's rules, written out here)."""
    low, high = sorted(bounds)
    condition = f"id = :a AND n {operator} :low" + (" AND :high" if operator == "BETWEEN" else "")
    values: dict[str, Any] = {":a": {"S": "a"}, ":low": {"N": str(low)}}
    if operator == "BETWEEN":
        values[":high"] = {"N": str(high)}
    selects: Callable[[float], bool] = {
        "=": lambda n: n == low,
        "<": lambda n: n < low,
        "<=": lambda n: n <= low,
        ">": lambda n: n > low,
        ">=": lambda n: n >= low,
        "BETWEEN": lambda n: low <= n <= high,
    }[operator]
    expected = sorted((n for n in _QUERY_KEYS if selects(n)), reverse=not forward)
    if start is not None:
        expected = [n for n in expected if (n > start if forward else n < start)]
    expected = expected[:limit] if limit is not None else expected
    request: dict[str, Any] = {
        "TableName": _ORDERED_TABLE,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": forward,
    }
    if limit is not None:
        request["Limit"] = limit
    if start is not None:
        request["ExclusiveStartKey"] = {"id": {"S": "a"}, "n": {"N": str(start)}}
    with mock_aws():
        moto_speedups.install()
        answer = _ordered_client().query(**request)
    assert [float(item["n"]["N"]) for item in answer["Items"]] == [float(n) for n in expected]


_INDEXED_TABLE = "indexed"


def _load_indexed(client: Any) -> None:
    """Items of three kinds: big ones in the INCLUDE index, small ones in the KEYS_ONLY index too, and
    some in neither (no index keys: a sparse index leaves them out)."""
    _create_table(
        client,
        _INDEXED_TABLE,
        string_attributes=("shard", "at", "due"),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byShard",
                "KeySchema": [
                    {"AttributeName": "shard", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["last"]},
            },
            {
                "IndexName": "due",
                "KeySchema": [
                    {"AttributeName": "due", "KeyType": "HASH"},
                    {"AttributeName": "id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    for n in range(40):
        item: dict[str, Any] = {"id": {"S": f"s{n % 7}"}, "n": {"N": str(n)}, "doc": {"S": "x" * 5000}}
        if n % 4:
            item |= {
                "shard": {"S": f"t#{n % 2}"},
                "at": {"S": f"2026-{n % 5:02}-{n:02}"},
                "last": {"N": str(n)},
            }
        if n % 3 == 0:
            item |= {"due": {"S": "0"}, "nested": {"M": {"a": {"L": [{"N": "1"}]}}}}
        client.put_item(TableName=_INDEXED_TABLE, Item=item)


def _index_answers(client: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for shard in ("t#0", "t#1"):
        for forward in (True, False):
            pages, start = [], None
            while True:
                request: dict[str, Any] = {
                    "TableName": _INDEXED_TABLE,
                    "IndexName": "byShard",
                    "KeyConditionExpression": "shard = :s AND #at >= :a",
                    "ExpressionAttributeNames": {"#at": "at"},
                    "ExpressionAttributeValues": {":s": {"S": shard}, ":a": {"S": "2026-01"}},
                    "ScanIndexForward": forward,
                    "Limit": 4,
                }
                if start:
                    request["ExclusiveStartKey"] = start
                response = client.query(**request)
                pages.append(response["Items"])
                start = response.get("LastEvaluatedKey")
                if not start:
                    break
            answers[f"{shard} {forward}"] = pages
    answers["due"] = client.query(
        TableName=_INDEXED_TABLE,
        IndexName="due",
        KeyConditionExpression="due = :d",
        ExpressionAttributeValues={":d": {"S": "0"}},
    )["Items"]
    return answers


def test_index_queries_answer_what_unpatched_moto_answers() -> None:
    """Index entries are projected before moto copies them: the same items, attributes, order and pages."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        moto_speedups.install()
        _load_indexed(client)
        patched = _index_answers(client)
    code = (
        "import json, boto3\nfrom moto import mock_aws\n"
        "from tests.local_runtime import test_moto_speedups as t\n"
        "with mock_aws():\n"
        "    c = boto3.client('dynamodb', region_name='us-east-1')\n"
        "    t._load_indexed(c)\n"
        "    print(json.dumps(t._index_answers(c)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(json.dumps(patched)) == json.loads(done.stdout)
    assert all(set(item) == {"id", "n", "due"} for item in patched["due"])  # keys only
    assert all("doc" not in item and "last" in item for page in patched["t#0 True"] for item in page)


def test_an_index_page_is_cut_at_1_mb_of_index_entries_not_of_the_items_they_name() -> None:
    """DynamoDB sizes an index query by its projected entries: 300 KB items, small entries, one page."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        moto_speedups.install()
        _load_indexed(client)
        for n in range(100, 110):
            item = {"id": {"S": "big"}, "n": {"N": str(n)}, "doc": {"S": "x" * 300_000}}
            client.put_item(TableName=_INDEXED_TABLE, Item=item | {"due": {"S": "1"}})
        answer = client.query(
            TableName=_INDEXED_TABLE,
            IndexName="due",
            KeyConditionExpression="due = :d",
            ExpressionAttributeValues={":d": {"S": "1"}},
        )
    assert len(answer["Items"]) == 10
    assert "LastEvaluatedKey" not in answer
