"""`eventstore archive read` on what removal archived: verified, opened with the keys, erased, tampered."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from eventstore.appends import NewEvent
from eventstore.archive import ArchiveWriter, manifest_key
from eventstore.domain import Caller
from eventstore.dynamodb.keys import DynamoSubjectKeys, create_keys_table
from eventstore.dynamodb.removal import Remover
from eventstore.dynamodb.store import DynamoEventStore
from eventstore.erasure import Keyring, KmsKeyService
from eventstore.payloadbucket import S3PayloadObjects
from eventstore_client import cli
from tests.removal.conftest import ARCHIVE, PAYLOADS, REGION, TABLE, Aws
from tests.removal.items import put_control, put_marker, put_summary

KEYS = "keys"
CALLER = Caller("arn:aws:iam::123456789012:user/tester", "request-1")


@pytest.fixture
def archived(aws: Aws) -> tuple[str, Keyring]:
    """A stream of a plain and a sealed event, soft-deleted, removed with the archive on."""
    kms = boto3.client("kms", region_name=REGION)
    create_keys_table(aws.dynamodb, KEYS)
    key_id = kms.create_key(Description="data keys")["KeyMetadata"]["KeyId"]
    keyring = Keyring(DynamoSubjectKeys(aws.dynamodb, KEYS), KmsKeyService(lambda: kms, key_id))
    store = DynamoEventStore(aws.dynamodb, TABLE, listing_settle=timedelta(0), keyring=keyring)
    stream_id = str(uuid.uuid4())
    events = [
        NewEvent(str(uuid.uuid4()), "Opened", {"plain": True}),
        NewEvent(str(uuid.uuid4()), "Named", {"name": "Ada"}, data_subject="person-7"),
    ]
    store.create("order", stream_id, events, CALLER)
    now = datetime.now(UTC)
    put_summary(aws.dynamodb, TABLE, stream_id, 2)
    put_marker(aws.dynamodb, TABLE, stream_id, "deleted", 2, at=now)
    put_control(aws.dynamodb, TABLE, stream_id, deletedBefore=3)
    report = Remover(aws.dynamodb, TABLE, defaults={}, archive=ArchiveWriter(aws.s3, ARCHIVE)).run(now)
    assert report.events_removed == 2
    return stream_id, keyring


def archive_read(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]]]:
    status = cli.main(["archive", "read", "--bucket", ARCHIVE, "--region", REGION, *args])
    return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_reads_back_with_payloads_opened_by_the_keys(
    archived: tuple[str, Keyring], capsys: pytest.CaptureFixture[str]
) -> None:
    stream_id, _ = archived
    status, events = archive_read(capsys, stream_id, "--keys-table", KEYS)
    assert status == cli.EXIT_OK
    assert [(e["revision"], e["eventType"], e["data"]) for e in events] == [
        (1, "Opened", {"plain": True}),
        (2, "Named", {"name": "Ada"}),
    ]
    assert "sealed" not in events[1]


def test_without_the_keys_sealed_payloads_print_sealed(
    archived: tuple[str, Keyring], capsys: pytest.CaptureFixture[str]
) -> None:
    status, events = archive_read(capsys, archived[0])
    assert status == cli.EXIT_OK
    assert events[1]["dataSealed"] is True
    assert "data" not in events[1]
    assert "Ada" not in json.dumps(events)


def test_an_erased_subject_reads_erased_from_the_archive_too(
    archived: tuple[str, Keyring], capsys: pytest.CaptureFixture[str]
) -> None:
    stream_id, keyring = archived
    keyring.erase("person-7", CALLER)
    _, events = archive_read(capsys, stream_id, "--keys-table", KEYS)
    assert events[1]["data"] is None
    assert events[1]["dataErased"] is True
    assert events[0]["data"] == {"plain": True}


def test_a_changed_object_fails_its_sha256(
    aws: Aws, archived: tuple[str, Keyring], capsys: pytest.CaptureFixture[str]
) -> None:
    stream_id, _ = archived
    manifest = json.loads(aws.s3.get_object(Bucket=ARCHIVE, Key=manifest_key(stream_id))["Body"].read())
    aws.s3.put_object(Bucket=ARCHIVE, Key=manifest["spans"][0]["key"], Body=b"not the archived span")
    status = cli.main(["archive", "read", "--bucket", ARCHIVE, "--region", REGION, stream_id])
    assert status == cli.EXIT_INVALID
    assert "SHA-256" in capsys.readouterr().err


def test_a_stream_never_archived_is_not_found(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["archive", "read", "--bucket", ARCHIVE, "--region", REGION, str(uuid.uuid4())])
    assert status == cli.EXIT_NOT_FOUND
    assert "no archive" in capsys.readouterr().err


def test_one_span_by_its_key_and_a_key_the_manifest_does_not_name(
    aws: Aws, archived: tuple[str, Keyring], capsys: pytest.CaptureFixture[str]
) -> None:
    stream_id, _ = archived
    manifest = json.loads(aws.s3.get_object(Bucket=ARCHIVE, Key=manifest_key(stream_id))["Body"].read())
    (span,) = manifest["spans"]
    assert (span["firstRevision"], span["lastRevision"], span["events"]) == (1, 2, 2)
    status, events = archive_read(capsys, stream_id, "--span", span["key"])
    assert (status, [e["revision"] for e in events]) == (cli.EXIT_OK, [1, 2])
    status = cli.main(["archive", "read", "--bucket", ARCHIVE, "--region", REGION, stream_id, "--span", "x"])
    assert status == cli.EXIT_INVALID
    assert "names no span" in capsys.readouterr().err


def test_offloaded_payloads_are_archived_inline_plain_and_sealed(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Payloads in the payload bucket (issue 21) go into the archive itself, so the orphan sweep may delete
    their objects once the commits are gone; a sealed one stays sealed there and opens with the keys."""
    kms = boto3.client("kms", region_name=REGION)
    create_keys_table(aws.dynamodb, KEYS)
    key_id = kms.create_key(Description="data keys")["KeyMetadata"]["KeyId"]
    keyring = Keyring(DynamoSubjectKeys(aws.dynamodb, KEYS), KmsKeyService(lambda: kms, key_id))
    objects = S3PayloadObjects(lambda: aws.s3, PAYLOADS)
    store = DynamoEventStore(aws.dynamodb, TABLE, keyring=keyring, payloads=objects)
    big = {"scan": os.urandom(100_000).hex()}
    stream_id = str(uuid.uuid4())
    events = [
        NewEvent(str(uuid.uuid4()), "Scanned", big),
        NewEvent(str(uuid.uuid4()), "Named", big, data_subject="person-9"),
    ]
    store.create("order", stream_id, events, CALLER)
    assert aws.s3.list_objects_v2(Bucket=PAYLOADS, Prefix=f"{stream_id}/")["KeyCount"] == 2
    now = datetime.now(UTC)
    put_summary(aws.dynamodb, TABLE, stream_id, 2)
    put_marker(aws.dynamodb, TABLE, stream_id, "deleted", 2, at=now)
    put_control(aws.dynamodb, TABLE, stream_id, deletedBefore=3)
    writer = ArchiveWriter(aws.s3, ARCHIVE, PAYLOADS)
    report = Remover(aws.dynamodb, TABLE, defaults={}, archive=writer).run(now)
    assert report.events_removed == 2
    status, read = archive_read(capsys, stream_id, "--keys-table", KEYS)
    assert status == cli.EXIT_OK
    assert [(e["revision"], e["data"]) for e in read] == [(1, big), (2, big)]
