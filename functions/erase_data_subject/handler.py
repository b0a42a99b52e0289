"""Lambda behind `DELETE /data-subjects/{dataSubject}`: erase a data subject (destroy its key)."""

from __future__ import annotations

from typing import Any

from eventstore import api
from eventstore.service import ApiService, dynamodb_store, keyring

# The keys table only: erasing or describing a subject never uses a key, so no KMS permission.
SERVICE = ApiService(dynamodb_store(keys=keyring(kms=False)), {"eraseDataSubject": api.erase_data_subject})


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return SERVICE.handle(event)
