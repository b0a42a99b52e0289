"""scripts/backfill_stream_types.py registers the types whose feeds began before the registry existed."""

from __future__ import annotations

import uuid

import boto3
from moto import mock_aws

from eventstore.appends import NewEvent
from eventstore.domain import Caller
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.table import create_table
from scripts import backfill_stream_types
from tests.core.conftest import run_feed_writer

CALLER = Caller("arn:aws:iam::123456789012:user/tester", "req-1")


def test_types_of_older_feeds_are_registered_with_their_first_item_time_once() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "events")
        store = DynamoEventStore(client, "events")
        for stream_type in ("order", "invoice", "order"):
            store.create(stream_type, str(uuid.uuid4()), [NewEvent(str(uuid.uuid4()), "Created", {})], CALLER)
        run_feed_writer(store)
        registered = {t.stream_type: t.first_seen_at for t in store.stream_types(None, 1000).stream_types}
        # A table from before the registry: the type feeds exist, the registry items do not.
        for item in client.scan(TableName="events")["Items"]:
            if item["streamId"]["S"] == "$stream-types":
                client.delete_item(TableName="events", Key={k: item[k] for k in ("streamId", "revision")})
        assert store.stream_types(None, 1000).stream_types == ()

        assert backfill_stream_types.backfill(client, "events") == ["invoice", "order"]
        restored = {t.stream_type: t.first_seen_at for t in store.stream_types(None, 1000).stream_types}
        assert restored == registered
        assert backfill_stream_types.backfill(client, "events") == ["invoice", "order"]
        assert len(store.stream_types(None, 1000).stream_types) == 2
