"""The data-subject keys table: one item per subject, its wrapped data key, and after an erasure the record
of it (the key removed). Apart from the events table so that a restore of one does not restore the other
(docs/design.md, "Erasure")."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eventstore.domain import Caller
from eventstore.dynamodb.access import condition_failed, dynamodb_errors
from eventstore.erasure import SubjectKey
from eventstore.table import layout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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


class DynamoSubjectKeys:
    """SubjectKeys on a DynamoDB table keyed by the subject id (table.json's `data_subject_keys`)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._name = table_name
        self._hash_key = keys_layout().hash_key

    def _key(self, data_subject: str) -> dict[str, Any]:
        return {self._hash_key: {"S": data_subject}}

    def get(self, data_subject: str) -> SubjectKey | None:
        with dynamodb_errors():
            item = self._client.get_item(
                TableName=self._name, Key=self._key(data_subject), ConsistentRead=True
            ).get("Item")
        return _decode(data_subject, item) if item else None

    def add(self, data_subject: str, wrapped: bytes, created_at: str) -> SubjectKey:
        # The condition is what makes an erasure final: once the subject has an item (a key or an
        # erasure record) no other key is ever stored for it.
        try:
            with dynamodb_errors():
                self._client.put_item(
                    TableName=self._name,
                    Item={
                        **self._key(data_subject),
                        "wrappedKey": {"B": wrapped},
                        "createdAt": {"S": created_at},
                    },
                    ConditionExpression="attribute_not_exists(#subject)",
                    ExpressionAttributeNames={"#subject": self._hash_key},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            old = exc.response.get("Item")
            existing = _decode(data_subject, old) if old else self.get(data_subject)
            if existing is None:
                raise
            return existing
        return SubjectKey(data_subject, wrapped)

    def erase(self, data_subject: str, erased_at: str, caller: Caller) -> SubjectKey:
        # One UpdateItem, no condition: it removes the key and records the first erasure (if_not_exists
        # keeps its time and caller on repeats); for a subject never seen it creates the record.
        recorded = {
            "erasedAt": erased_at,
            "erasedBy": caller.principal,
            "erasureRequestId": caller.request_id,
        }
        present = {name: value for name, value in recorded.items() if value is not None}
        with dynamodb_errors():
            answer = self._client.update_item(
                TableName=self._name,
                Key=self._key(data_subject),
                UpdateExpression="SET "
                + ", ".join(f"#{name} = if_not_exists(#{name}, :{name})" for name in present)
                + " REMOVE #wrapped",
                ExpressionAttributeNames={"#wrapped": "wrappedKey"} | {f"#{n}": n for n in present},
                ExpressionAttributeValues={f":{n}": {"S": v} for n, v in present.items()},
                ReturnValues="ALL_NEW",
            )
        return _decode(data_subject, answer["Attributes"])


def _decode(data_subject: str, item: Any) -> SubjectKey:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value["S"])

    wrapped = item.get("wrappedKey")
    return SubjectKey(
        data_subject=data_subject,
        wrapped=None if wrapped is None else bytes(wrapped["B"]),
        erased_at=text("erasedAt"),
        erased_by=text("erasedBy"),
    )
