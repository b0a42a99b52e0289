"""The customer managed key that wraps data-subject keys, in moto's KMS.

moto keeps KMS in memory, and its ciphertexts name the key's id: a new key after a restart would leave
every wrapped data key unopenable (every subject's payloads would read as erased). With --data-dir and the
built-in emulator the key's id and material are kept in the data dir and put back into moto on start.
The keys table itself is persisted with the events table (eventstore.persistence keeps both).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING

from local_runtime.lambdas import ACCOUNT_ID
from local_runtime.persistence import write_atomically

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_kms import KMSClient

log = logging.getLogger(__name__)

KEY_FILE = "data-key.json"
_DESCRIPTION = "eventstore-local: wraps data-subject keys"


def ensure_data_key(kms: KMSClient, region: str, data_dir: Path | None, *, in_process: bool) -> str:
    """The key's id: the data dir's key when there is one (restored into moto in this process), else new."""
    saved = data_dir / KEY_FILE if data_dir is not None else None
    if saved is not None and saved.exists():
        document = json.loads(saved.read_text())
        key_id: str = document["keyId"]
        if in_process:
            _restore(region, key_id, base64.b64decode(document["material"]))
            return key_id
        try:
            kms.describe_key(KeyId=key_id)
        except kms.exceptions.NotFoundException:
            log.warning(
                "the emulator no longer has data key %s: subjects' payloads will read as erased", key_id
            )
        else:
            return key_id
    key_id = kms.create_key(Description=_DESCRIPTION)["KeyMetadata"]["KeyId"]
    if saved is not None and in_process:
        material = _material(region, key_id)
        write_atomically(
            saved, json.dumps({"keyId": key_id, "material": base64.b64encode(material).decode()})
        )
    elif saved is not None:
        write_atomically(saved, json.dumps({"keyId": key_id}))
    return key_id


def _backend(region: str) -> object:
    from moto.kms.models import kms_backends  # noqa: PLC0415 - only with the built-in emulator

    return kms_backends[ACCOUNT_ID][region]


def _material(region: str, key_id: str) -> bytes:
    material: bytes = _backend(region).keys[key_id].key_material  # type: ignore[attr-defined]
    return material


def _restore(region: str, key_id: str, material: bytes) -> None:
    """Put the saved key back under its own id (moto's KMS has no call that imports a key with an id)."""
    backend = _backend(region)
    key = backend.create_key(  # type: ignore[attr-defined]
        policy=None,
        key_usage="ENCRYPT_DECRYPT",
        key_spec="SYMMETRIC_DEFAULT",
        description=_DESCRIPTION,
        tags=None,
    )
    keys = backend.keys  # type: ignore[attr-defined]
    del keys[key.id]
    key.id = key_id
    key.arn = key.arn.rsplit("/", 1)[0] + "/" + key_id
    key.key_material = material
    keys[key_id] = key
