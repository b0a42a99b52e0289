"""The table's layout, from table.json: the one definition shared with Terraform and the local runtime."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
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
    definition: dict[str, Any] = json.loads(resources.files(__package__).joinpath("table.json").read_text())
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


@dataclass(frozen=True, slots=True)
class SnapshotLayout:
    attributes: tuple[str, ...]
    """Every attribute a snapshot item may hold (the snapshots function's IAM policy allows no other)."""
    commit_attributes: tuple[str, ...]
    """What the snapshots function may read of a commit: its key, stream type and last revision."""


@cache
def snapshot_layout() -> SnapshotLayout:
    definition: dict[str, Any] = layout().definition["snapshots"]
    if int(definition["revision"]) != SNAPSHOT_REVISION:
        raise ValueError("table.json's snapshot revision differs from eventstore.table.SNAPSHOT_REVISION")
    return SnapshotLayout(
        attributes=tuple(definition["attributes"]), commit_attributes=tuple(definition["commit_attributes"])
    )


@dataclass(frozen=True, slots=True)
class KeysLayout:
    hash_key: str
    definition: dict[str, Any]


@cache
def keys_layout() -> KeysLayout:
    definition: dict[str, Any] = layout().definition["data_subject_keys"]
    return KeysLayout(hash_key=definition["hash_key"], definition=definition)


def create_keys_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the data-subject keys table on an emulator, exactly as terraform/erasure.tf does."""
    definition = keys_layout().definition
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in definition["attributes"]
        ],
        KeySchema=[{"AttributeName": definition["hash_key"], "KeyType": "HASH"}],
    )
    client.get_waiter("table_exists").wait(TableName=table_name)


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
