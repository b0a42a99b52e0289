"""Lambda behind `GET /data-subjects/{dataSubject}`: a data subject's state, for audit."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring

# The keys table only: erasing or describing a subject never uses a key, so no KMS permission.
SERVICE = ApiService(
    dynamodb_store(keys=keyring(kms=False)), {"describeDataSubject": api.describe_data_subject}
)


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
