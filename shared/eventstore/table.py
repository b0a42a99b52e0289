"""The table's layout, from table.json: the one definition shared with Terraform and the local runtime."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import GlobalSecondaryIndexTypeDef, ProjectionTypeDef

SUMMARY_REVISION: Final = 0
"""Sort key of a stream's summary (its notification cursor); commits start at revision 1."""

LISTING_MARKER_REVISION: Final = -1
"""Sort key of a stream's listing marker: an extra entry in the listing index for a commit that became
visible later than its timestamp (docs/design.md, "Listing")."""

CONTROL_REVISION: Final = -2
"""Sort key of a stream's control item: its metadata, deletion floor and tombstone (docs/design.md,
"Lifecycle")."""
SNAPSHOT_REVISION: Final = -3
"""Sort key of a stream's snapshot (docs/design.md, "Snapshots"); -2 is the lifecycle control item's."""


@dataclass(frozen=True, slots=True)
class TableLayout:
    hash_key: str
    range_key: str
    listing_index: str
    listing_hash_key: str
    listing_range_key: str
    listing_shards: int
    removal_index: str
    removal_hash_key: str
    definition: dict[str, Any]


@cache
def layout() -> TableLayout:
    definition: dict[str, Any] = json.loads(Path(__file__).with_name("table.json").read_text())
    indexes = {index["name"]: index for index in definition["global_secondary_indexes"]}
    index = indexes[definition["listing_index"]]
    removal = indexes[definition["removal_index"]]
    return TableLayout(
        hash_key=definition["hash_key"],
        range_key=definition["range_key"],
        listing_index=index["name"],
        listing_hash_key=index["hash_key"],
        listing_range_key=index["range_key"],
        listing_shards=int(definition["listing_shards"]),
        removal_index=removal["name"],
        removal_hash_key=removal["hash_key"],
        definition=definition,
    )


def _index(index: dict[str, Any]) -> GlobalSecondaryIndexTypeDef:
    projection: ProjectionTypeDef = {"ProjectionType": index["projection_type"]}
    if "non_key_attributes" in index:
        projection["NonKeyAttributes"] = index["non_key_attributes"]
    return {
        "IndexName": index["name"],
        "KeySchema": [
            {"AttributeName": index["hash_key"], "KeyType": "HASH"},
            {"AttributeName": index["range_key"], "KeyType": "RANGE"},
        ],
        "Projection": projection,
    }


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the table on an emulator (tests, local runtime), exactly as terraform/table.tf does."""
    definition = layout().definition
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in definition["attributes"]
        ],
        KeySchema=[
            {"AttributeName": definition["hash_key"], "KeyType": "HASH"},
            {"AttributeName": definition["range_key"], "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[_index(index) for index in definition["global_secondary_indexes"]],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": definition["stream_view_type"]},
    )
    client.get_waiter("table_exists").wait(TableName=table_name)
