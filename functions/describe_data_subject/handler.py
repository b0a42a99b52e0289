"""Lambda behind `GET /data-subjects/{dataSubject}`: a data subject's state, for audit."""

from __future__ import annotations

from typing import Any

from eventstore.api import subjects
from eventstore.service import ApiService, dynamodb_client, dynamodb_store, keyring

DYNAMODB = dynamodb_client()
# The keys table only: erasing or describing a subject never uses a key, so no KMS permission.
SERVICE = ApiService(
    dynamodb_store(DYNAMODB, keys=keyring(DYNAMODB, kms=False)),
    {"describeDataSubject": subjects.describe_data_subject},
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
