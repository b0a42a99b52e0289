"""Registers the stream types whose feeds began before the stream type registry (`GET /stream-types`)
existed. The feed writer registers a type the first time one of its containers feeds the type; a table
whose feeds are older has those types unregistered until this has run once.

One Query of the all-types feed's items (`$feed`: references only, about 0.5 read units per 4 KB) and one
conditional PutItem per type found (1 write unit each; a type registered already keeps its time). Safe to
run again, and while the store serves.

Usage: python scripts/backfill_stream_types.py --table eventstore-staging-events [--region eu-west-1]
(credentials from the environment, as the AWS CLI takes them; AWS_ENDPOINT_URL for an emulator).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shared"))

from eventstore.dynamodb.access import Table
from eventstore.dynamodb.feeds import TableFeedLog
from eventstore.feeds import ALL_FEED, decode_item

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

LOG = logging.getLogger("backfill_stream_types")


def backfill(client: DynamoDBClient, table_name: str) -> list[str]:
    """Register every stream type the all-types feed holds, first seen with the first item holding it;
    the types, sorted."""
    table = Table(client, table_name)
    feeds = TableFeedLog(table)
    found: dict[str, str] = {}
    for page in client.get_paginator("query").paginate(
        TableName=table_name,
        KeyConditionExpression="#id = :feed",
        ExpressionAttributeNames={"#id": table.layout.hash_key},
        ExpressionAttributeValues={":feed": {"S": ALL_FEED}},
    ):
        for item in page["Items"]:
            feed_item = decode_item(item)
            for ref in feed_item.refs:
                found.setdefault(ref.stream_type, feed_item.written_at)
    for stream_type, first_seen_at in sorted(found.items()):
        feeds.register_type(stream_type, first_seen_at)
    return sorted(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--table", required=True, help="the events table (terraform output table_name)")
    parser.add_argument("--region", help="default: from the environment or profile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    types = backfill(boto3.client("dynamodb", region_name=args.region), args.table)
    LOG.info("registered %d stream types: %s", len(types), ", ".join(types) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
