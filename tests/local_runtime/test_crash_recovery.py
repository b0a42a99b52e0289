"""--data-dir under kill -9: every append answered 201 is there after the restart, the same event at the
same revision; every notification a consumer saw names an event the restarted store holds; and commits not
yet notified when the process died are notified after the restart."""

import http.client
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

from local_runtime.persistence import JournalCorruptError, JournalEntry, read_journal
from local_runtime.testing import LocalStore, SignedHttp, launch

WRITERS = 6
ROUNDS = 3


class Writer(threading.Thread):
    """Appends one event at a time to its own stream until the store goes away; records what was answered."""

    def __init__(self, api: SignedHttp, stream_id: str, next_revision: int) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.stream_id = stream_id
        self.next_revision = next_revision
        self.acknowledged: dict[int, str] = {}

    def run(self) -> None:
        while True:
            event_id = str(uuid.uuid4())
            body = {"event": {"eventType": "tick", "payload": event_id, "eventId": event_id}}
            path = f"/streams/tick/{self.stream_id}/events/{self.next_revision}"
            try:
                response = self.api.request("PUT", path, body)
            except (OSError, http.client.HTTPException):
                return  # killed: the outcome of this last append is unknown, and allowed either way
            assert response.status == 201, response.body
            self.acknowledged[self.next_revision] = event_id
            self.next_revision += 1


class Subscriber(threading.Thread):
    """An SQS queue subscribed to the topic, drained until the store goes away."""

    def __init__(self, store: LocalStore) -> None:
        super().__init__(daemon=True)
        self.sqs = boto3.client("sqs", **store.boto3_kwargs())
        sns = boto3.client("sns", **store.boto3_kwargs())
        self.queue_url = self.sqs.create_queue(QueueName="crash-subscriber")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=store.topic_arn,
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        self.seen: dict[tuple[str, int], str] = {}

    def run(self) -> None:
        while True:
            try:
                reply = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            except Exception:  # noqa: BLE001 - the emulator was killed: whatever was seen is final
                return
            for message in reply.get("Messages", []):
                notification = json.loads(message["Body"])
                for event in notification["events"]:
                    self.seen[notification["streamId"], event["revision"]] = event["eventId"]


def _stored(api: SignedHttp, stream_id: str) -> dict[int, str]:
    page = api.request("GET", f"/streams/tick/{stream_id}/events?limit=1000")
    assert page.status == 200, page.body
    return {e["revision"]: e["eventId"] for e in page.json()["eventPage"]["events"]}


def _notified_revision(store: LocalStore, stream_id: str) -> int:
    dynamodb = boto3.client("dynamodb", **store.boto3_kwargs())
    item = dynamodb.get_item(
        TableName=store.table_name,
        Key={"streamId": {"S": stream_id}, "revision": {"N": "0"}},
        ConsistentRead=True,
    ).get("Item", {})
    return int(item.get("lastRevision", {}).get("N", "0"))


@pytest.mark.slow
def test_acknowledged_appends_and_seen_notifications_survive_kill_9(tmp_path: Path) -> None:
    acknowledged: dict[tuple[str, int], str] = {}
    notified: dict[tuple[str, int], str] = {}
    streams: list[str] = []
    for round_number in range(ROUNDS + 1):
        with launch(data_dir=tmp_path) as store:
            api = store.client()
            stored = {stream_id: _stored(api, stream_id) for stream_id in streams}
            lost = {
                key: event_id
                for key, event_id in acknowledged.items()
                if stored[key[0]].get(key[1]) != event_id
            }
            assert not lost, (
                f"round {round_number}: {len(lost)} of {len(acknowledged)} acknowledged appends lost"
            )
            missing = {key: e for key, e in notified.items() if stored[key[0]].get(key[1]) != e}
            assert not missing, f"round {round_number}: notified but not stored after the restart: {missing}"
            if round_number == ROUNDS:
                # Commits written but not yet notified when a process died are notified since.
                deadline = time.monotonic() + 30
                for stream_id in streams:
                    last = max(stored[stream_id])
                    while _notified_revision(store, stream_id) < last and time.monotonic() < deadline:
                        time.sleep(0.2)
                    assert _notified_revision(store, stream_id) == last
                break
            if not streams:
                for _ in range(WRITERS):
                    created = api.request("POST", "/streams/tick", {"initialEvent": {"eventType": "start"}})
                    assert created.status == 201, created.body
                    streams.append(created.json()["stream"]["streamId"])
                stored = {stream_id: _stored(api, stream_id) for stream_id in streams}
            subscriber = Subscriber(store)
            subscriber.start()
            writers = [Writer(store.client(), s, max(stored[s]) + 1) for s in streams]
            for writer in writers:
                writer.start()
            time.sleep(2.0)
            os.kill(store.process.pid, signal.SIGKILL)
            for thread in [*writers, subscriber]:
                thread.join(30)
            for writer in writers:
                acknowledged.update(((writer.stream_id, r), e) for r, e in writer.acknowledged.items())
            notified.update(subscriber.seen)
    assert len(acknowledged) > ROUNDS * WRITERS  # the writers did get appends in before each kill
    assert notified  # ... and the consumer saw some of them notified


def _journal(path: Path, entries: list[JournalEntry]) -> bytes:
    data = b"".join(entry.encode() for entry in entries)
    path.write_bytes(data)
    return data


ENTRIES = [JournalEntry("DynamoDB_20120810.PutItem", "AWS4-HMAC-SHA256 x", f'{{"n": {n}}}') for n in range(3)]


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "journal-0.log"
    data = _journal(path, ENTRIES)
    for cut in (1, 5, len(ENTRIES[-1].encode()) - 1):  # the process died while writing the last line
        path.write_bytes(data[:-cut])
        assert read_journal(path) == (ENTRIES[:-1], True)
    path.write_bytes(data)
    assert read_journal(path) == (ENTRIES, False)


def test_a_damaged_line_before_the_last_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "journal-0.log"
    data = bytearray(_journal(path, ENTRIES))
    data[len(ENTRIES[0].encode()) + 12] ^= 1  # a flipped bit in the second of three lines
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match="line 2 of 3"):
        read_journal(path)
