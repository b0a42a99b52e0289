"""What only the DynamoDB store's snapshots do: the item beside the commits, the attributes each request
names (the snapshots function's IAM policy allows no others) and the ciphertext's binding."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from eventstore.commits import is_commit_key
from eventstore.dynamodb.snapshots import snapshot_layout
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.snapshots import NewSnapshot
from eventstore.table import SNAPSHOT_REVISION
from local_runtime.pump import matches_filter
from tests.core.test_store_contract import new_stream


def stored(store: DynamoEventStore, stream_id: str) -> Any:
    return store.table.client.get_item(
        TableName=store.table.name, Key=store.table.key(stream_id, SNAPSHOT_REVISION), ConsistentRead=True
    )["Item"]


def test_the_snapshot_item_is_no_commit_nor_listed(moto_store: DynamoEventStore) -> None:
    stream_id = new_stream(moto_store, count=2)
    moto_store.put_snapshot("order", stream_id, NewSnapshot(2, "order-v1", {"n": 2}))
    item = stored(moto_store, stream_id)
    assert set(item) <= set(snapshot_layout().attributes)
    assert "digest" not in item
    assert not {moto_store.table.layout.listing_hash_key, moto_store.table.layout.listing_range_key} & set(
        item
    )
    keys = {"streamId": item["streamId"], "revision": item["revision"]}
    assert not is_commit_key(keys, item)
    assert not matches_filter({"eventName": "INSERT", "dynamodb": {"Keys": keys, "NewImage": item}})


def test_each_request_names_only_the_attributes_the_policy_allows(moto_store: DynamoEventStore) -> None:
    stream_id = new_stream(moto_store, count=2)
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params))

    events = moto_store.table.client.meta.events
    events.register("provide-client-params.dynamodb.*", record)
    try:
        moto_store.put_snapshot("order", stream_id, NewSnapshot(1, "v1", {"n": 1}, data_subject="p-1"))
        moto_store.put_snapshot("order", stream_id, NewSnapshot(1, "v1", {"n": 1}, data_subject="p-1"))
        moto_store.get_snapshot("order", stream_id)
    finally:
        events.unregister("provide-client-params.dynamodb.*", record)
    layout = snapshot_layout()
    on_table = [(name, p) for name, p in calls if p.get("TableName") == moto_store.table.name]
    assert {name for name, _ in on_table} == {"Query", "PutItem", "GetItem"}
    for name, params in on_table:
        if name == "PutItem":
            assert set(params["Item"]) <= set(layout.attributes)
            continue
        allowed = layout.commit_attributes if name == "Query" else layout.attributes
        assert "ProjectionExpression" in params, name
        assert set(params["ExpressionAttributeNames"].values()) <= set(allowed), name


@pytest.mark.parametrize("moved", ["streamId", "snapshotRevision"])
def test_a_sealed_state_cannot_be_moved_to_another_stream_or_revision(
    moto_store: DynamoEventStore, moved: str
) -> None:
    subject = f"person-{uuid.uuid4()}"
    source = new_stream(moto_store, count=3)
    moto_store.put_snapshot("order", source, NewSnapshot(2, "v1", {"name": "Ada"}, data_subject=subject))
    item = stored(moto_store, source)
    assert b"Ada" not in bytes(item["sealed"]["B"])
    target = new_stream(moto_store, count=3) if moved == "streamId" else source
    item |= {"streamId": {"S": target}} if moved == "streamId" else {"snapshotRevision": {"N": "3"}}
    moto_store.table.client.put_item(TableName=moto_store.table.name, Item=item)
    with pytest.raises(InvalidTag):
        moto_store.get_snapshot("order", target)
