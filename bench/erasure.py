"""Erasure (issue 17): KMS calls per 1,000 appends for 1 and for 1,000 distinct data subjects, the CPU an
append spends sealing its payload, and what reading sealed events costs a container with a cold key cache.

The store runs on moto in-process with moto's KMS; KMS calls are counted on the client (every call the
key service makes). The added time per append is the CPU of Keyring.seal with a warm cache (AES-256-GCM,
the fingerprint, compression): on AWS a cache miss adds one KMS call (GenerateDataKey or Decrypt, a few
ms), once per subject per container per KEY_CACHE_SECONDS.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import boto3
from moto import mock_aws

from bench.harness import REGION, function_environment
from bench.report import Report, Row

if TYPE_CHECKING:
    from eventstore.erasure import Keyring

APPENDS = 1000
SECTION = "7 erasure"
_PRINCIPAL = "arn:aws:iam::123456789012:user/bench"
_PAYLOAD = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "address": {"city": "London", "street": "x" * 40},
}


def _keyring(dynamodb: Any, key_id: str, calls: Counter[str]) -> Keyring:
    from eventstore.dynamodb.keys import DynamoSubjectKeys  # noqa: PLC0415 - the layer is on the path now
    from eventstore.erasure import Keyring, KmsKeyService  # noqa: PLC0415

    kms = boto3.client("kms", region_name=REGION)
    kms.meta.events.register("before-call.kms.*", lambda model, **_: calls.update([model.name]))
    return Keyring(DynamoSubjectKeys(dynamodb, "keys"), KmsKeyService(lambda: kms, key_id))


def _appends(subjects: int) -> tuple[Counter[str], Counter[str]]:
    """KMS calls of APPENDS appends over `subjects` subjects, then of reading them all back in a new
    container (cold cache)."""
    from eventstore.appends import NewEvent  # noqa: PLC0415 - the layer is on the path now
    from eventstore.domain import Caller  # noqa: PLC0415
    from eventstore.dynamodb.keys import create_keys_table  # noqa: PLC0415
    from eventstore.dynamodb.store import DynamoEventStore  # noqa: PLC0415
    from eventstore.table import create_table  # noqa: PLC0415

    caller = Caller(_PRINCIPAL, "bench")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, "events")
        create_keys_table(dynamodb, "keys")
        key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
        writes: Counter[str] = Counter()
        store = DynamoEventStore(dynamodb, "events", keyring=_keyring(dynamodb, key_id, writes))
        stream_id = str(uuid.uuid4())
        store.create("person", stream_id, [NewEvent(str(uuid.uuid4()), "Opened", None)], caller)
        for n in range(APPENDS):
            event = NewEvent(str(uuid.uuid4()), "Noted", _PAYLOAD, data_subject=f"subject-{n % subjects}")
            store.append("person", stream_id, n + 1, [event], caller)
        reads: Counter[str] = Counter()
        reader = DynamoEventStore(dynamodb, "events", keyring=_keyring(dynamodb, key_id, reads))
        after = 0
        while True:
            page = reader.read("person", stream_id, after, 1000)
            after = page.last_evaluated_revision
            if not page.has_more:
                break
        return writes, reads


def _seal_cpu_microseconds(count: int = 2000) -> tuple[float, float]:
    """CPU per append to seal one event with a warm key cache, and per event to open it."""
    from eventstore.appends import NewEvent  # noqa: PLC0415 - the layer is on the path now
    from eventstore.commits import decode_commit, encode_commit  # noqa: PLC0415
    from eventstore.domain import Caller  # noqa: PLC0415
    from eventstore.dynamodb.keys import create_keys_table  # noqa: PLC0415

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_keys_table(dynamodb, "keys")
        key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
        keyring = _keyring(dynamodb, key_id, Counter())
        events = [NewEvent(str(uuid.uuid4()), "Noted", _PAYLOAD, data_subject="ada")]
        keyring.seal("s", events)  # loads the key and cryptography
        started = time.process_time()
        for _ in range(count):
            sealing = keyring.seal("s", events)
        seal = (time.process_time() - started) / count * 1e6
        item = encode_commit(
            "person",
            "s",
            1,
            events,
            committed_at="2026-01-01T00:00:00.000000Z",
            digest="d",
            caller=Caller(_PRINCIPAL, "bench"),
            sealed=sealing.ciphertexts,
        )
        commit = decode_commit(item)
        started = time.process_time()
        for _ in range(count):
            keyring.open_commit(commit)
        opened = (time.process_time() - started) / count * 1e6
    return seal, opened


def run(report: Report) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with function_environment():
        from eventstore.erasure import KEY_CACHE_SECONDS  # noqa: PLC0415 - the layer is on the path now

        for subjects in (1, APPENDS):
            writes, reads = _appends(subjects)
            figures[f"subjects_{subjects}"] = {"writes": dict(writes), "reads": dict(reads)}
            report.add(
                Row(
                    SECTION,
                    f"KMS calls per {APPENDS:,} appends, {subjects:,} subject{'s' if subjects > 1 else ''}",
                    sum(writes.values()),
                    "calls",
                    note=f"{json.dumps(dict(writes))}; one container; reading them back in a new one:"
                    f" {json.dumps(dict(reads))} (key cache {KEY_CACHE_SECONDS:g} s)",
                )
            )
        seal, opened = _seal_cpu_microseconds()
    figures["seal_us"], figures["open_us"] = seal, opened
    report.add(
        Row(
            SECTION,
            "added CPU per append (seal, warm key cache)",
            seal / 1000,
            "ms",
            note=f"AES-256-GCM + fingerprint + zlib of a {len(json.dumps(_PAYLOAD))}-byte payload; "
            f"opening it on read {opened / 1000:.3f} ms; a cache miss adds one KMS call",
        )
    )
    return figures
