"""EventStoreClient: the API's operations as typed calls and transparently paging iterators."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import urllib3

from eventstore_client._transport import CredentialSource, RetryPolicy, SignedTransport
from eventstore_client.errors import DataSubjectErased, EventStoreError, SnapshotConflict, SnapshotNotFound
from eventstore_client.models import (
    AppendResult,
    Checkpoint,
    DataSubject,
    ExpectedRevision,
    FeedEvent,
    FeedPage,
    Loaded,
    NewEvent,
    RecordedEvent,
    Snapshot,
    SnapshotWritten,
    Stream,
    StreamMetadata,
    format_timestamp,
    parse_timestamp,
)

MAX_PAGE_SIZE = 1000


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""`put_checkpoint(expected=...)` left out: an unconditional put."""


class EventStoreClient:
    """A client for one event store API (`base_url` is the stage URL, e.g. .../prod, or the local runtime).

    Requests are signed with SigV4 for `execute-api` using credentials from `session` (a boto3 or botocore
    session) or botocore's default chain. Failed attempts (timeouts, connection errors, 429, 5xx) are retried
    with the same body, so the same event ids: the server answers a repeated write as a replay.
    """

    def __init__(
        self,
        base_url: str,
        *,
        region: str | None = None,
        session: CredentialSource | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self._transport = SignedTransport(
            self.base_url, region=region, session=session, retry=retry or RetryPolicy(), pool=http
        )

    @property
    def region(self) -> str:
        return self._transport.region

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def create_stream(
        self,
        stream_type: str,
        events: NewEvent | Sequence[NewEvent],
        *,
        stream_id: str | None = None,
    ) -> AppendResult:
        """Create a stream with its first event(s). Without `stream_id` the server derives the id from the
        first event id, so a retried create returns the same stream."""
        batch = _as_batch(events)
        body: dict[str, Any] = (
            {"initialEvent": batch[0].to_json()}
            if len(batch) == 1
            else {"events": [e.to_json() for e in batch]}
        )
        if stream_id is not None:
            body["streamId"] = stream_id
        response = self._transport.request("POST", self._transport.url("streams", stream_type), body)
        return _written(response.body, response.headers, batch)

    def append(
        self,
        stream_type: str,
        stream_id: str,
        events: NewEvent | Sequence[NewEvent],
        *,
        expected_revision: ExpectedRevision | None = None,
        revision: int | None = None,
    ) -> AppendResult:
        """Append atomically. Give `expected_revision` (the current revision, or "any") for a batch, or
        `revision` (current + 1) to put a single event the way the original protocol does."""
        batch = _as_batch(events)
        if (expected_revision is None) == (revision is None):
            raise ValueError("give exactly one of expected_revision and revision")
        if revision is not None:
            if len(batch) != 1:
                raise ValueError("an append at a given revision takes exactly one event")
            url = self._transport.url("streams", stream_type, stream_id, "events", str(revision))
            response = self._transport.request("PUT", url, {"event": batch[0].to_json()})
        else:
            url = self._transport.url("streams", stream_type, stream_id, "events")
            body = {"expectedRevision": expected_revision, "events": [e.to_json() for e in batch]}
            # The store recognises a repeated "any" append only among the stream's 10 newest appends, so
            # an attempt whose outcome is unknown is not repeated blindly; exact revisions always are.
            response = self._transport.request("POST", url, body, replay_safe=expected_revision != "any")
        return _written(response.body, response.headers, batch)

    def read_events(
        self,
        stream_type: str,
        stream_id: str,
        *,
        after_revision: int = 0,
        page_size: int | None = None,
    ) -> Iterator[RecordedEvent]:
        """The stream's events after `after_revision`, in order, fetched a page at a time as you iterate."""
        limit = page_size or self.page_size
        while True:
            url = self._transport.url(
                "streams",
                stream_type,
                stream_id,
                "events",
                query={"after-revision": after_revision, "limit": limit},
            )
            page = self._transport.request("GET", url).body["eventPage"]
            for item in page["events"]:
                yield RecordedEvent.from_json(stream_type, item)
            if not page["hasMore"]:
                return
            if int(page["lastEvaluatedRevision"]) <= after_revision:
                raise EventStoreError(f"the event page after revision {after_revision} did not advance")
            after_revision = int(page["lastEvaluatedRevision"])

    def list_streams(
        self,
        stream_type: str,
        *,
        updated_after: datetime | None = None,
        page_size: int | None = None,
    ) -> Iterator[Stream]:
        """Streams of a type updated after a time, oldest update first, a page at a time."""
        query: dict[str, str | int] = {"limit": page_size or self.page_size}
        if updated_after is not None:
            query["updated-after"] = format_timestamp(updated_after)
        while True:
            url = self._transport.url("streams", stream_type, query=query)
            page = self._transport.request("GET", url).body["streamPage"]
            for item in page["streams"]:
                yield Stream.from_json(item)
            if not page["hasMore"] or not page.get("nextPageKey"):
                return
            query["stream-next-page-key"] = str(page["nextPageKey"])

    def feed_pages(
        self,
        stream_type: str | None = None,
        *,
        after: str | None = None,
        event_types: Iterable[str] | None = None,
        member: int | None = None,
        size: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[FeedPage]:
        """The pages of a feed after position `after` (None: from the beginning) until its head: a type's
        feed, or with `stream_type=None` the feed of all types. `event_types` keeps only those types;
        `member` of `size` (both or neither) keeps the streams of one consumer-group member. Every page
        carries `last_position`, where a consumer resumes (filters may have skipped entries)."""
        if (member is None) != (size is None):
            raise ValueError("give both member and size, or neither")
        query: dict[str, str | int | Sequence[str]] = {"limit": page_size or self.page_size}
        if event_types is not None:
            query["event-type"] = sorted(set(event_types))
        if member is not None and size is not None:
            query["consumer-group-member"], query["consumer-group-size"] = member, size
        segments = ("feed",) if stream_type is None else ("streams", stream_type, "feed")
        while True:
            if after is not None:
                query["after-position"] = after
            url = self._transport.url(*segments, query=query)
            page = FeedPage.from_json(self._transport.request("GET", url).body["feedPage"])
            yield page
            if not page.has_more:
                return
            if page.last_position is None or (after is not None and page.last_position <= after):
                raise EventStoreError(f"the feed page after position {after} did not advance")
            after = page.last_position

    def feed(
        self,
        stream_type: str | None = None,
        *,
        after: str | None = None,
        event_types: Iterable[str] | None = None,
        member: int | None = None,
        size: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[FeedEvent]:
        """The events of a feed after `after`, in feed order, a page at a time (see `feed_pages`); stops
        at the head. Each event's `position` is where to resume after it."""
        for page in self.feed_pages(
            stream_type, after=after, event_types=event_types, member=member, size=size, page_size=page_size
        ):
            yield from page.events

    def get_checkpoint(self, name: str) -> Checkpoint:
        """The checkpoint named `name`; CheckpointNotFound when none was ever stored."""
        url = self._transport.url("checkpoints", name)
        return Checkpoint.from_json(self._transport.request("GET", url).body["checkpoint"])

    def put_checkpoint(
        self, name: str, position: str, *, expected: str | _Unset | None = UNSET
    ) -> Checkpoint:
        """Store `position` under `name`. With `expected` (the position read, or None: must not exist yet)
        it is compare-and-set: CheckpointConflict when the stored position is another. A compare-and-set
        is not repeated once it may have reached the server (its repeat could not tell its own write from
        another instance's): a lost answer raises, and the caller reads the checkpoint again."""
        body: dict[str, Any] = {"position": position}
        conditional = not isinstance(expected, _Unset)
        if conditional:
            body["expectedPosition"] = expected
        url = self._transport.url("checkpoints", name)
        response = self._transport.request("PUT", url, body, replay_safe=not conditional)
        return Checkpoint.from_json(response.body["checkpoint"])

    def get_stream(self, stream_type: str, stream_id: str) -> Stream:
        url = self._transport.url("streams", stream_type, stream_id, "details")
        return Stream.from_json(self._transport.request("GET", url).body["stream"])

    def delete_stream(
        self,
        stream_type: str,
        stream_id: str,
        *,
        expected_revision: int | None = None,
        tombstone: bool = False,
    ) -> None:
        """Soft-delete the stream (it reads as unknown until an append at its old revision + 1, or "any",
        starts it again; its earlier events stay invisible), or with `tombstone` delete it for good
        (StreamDeleted from then on). With `expected_revision`, only if it is at that revision
        (WrongExpectedRevision). Idempotent, so safe to retry."""
        query: dict[str, Any] = {"mode": "tombstone"} if tombstone else {}
        if expected_revision is not None:
            query["expected-revision"] = expected_revision
        url = self._transport.url("streams", stream_type, stream_id, query=query or None)
        self._transport.request("DELETE", url)

    def get_metadata(self, stream_type: str, stream_id: str) -> StreamMetadata:
        url = self._transport.url("streams", stream_type, stream_id, "metadata")
        return StreamMetadata.from_json(self._transport.request("GET", url).body["metadata"])

    def set_metadata(
        self,
        stream_type: str,
        stream_id: str,
        *,
        max_count: int | None = None,
        max_age_seconds: int | None = None,
        truncate_before: int | None = None,
        expected_revision: int | None = None,
    ) -> StreamMetadata:
        """Replace the stream's lifecycle settings (None: not set). Events outside them are invisible to
        every read at once. With `expected_revision` (a StreamMetadata.revision; 0: never set) it is
        compare-and-set (MetadataConflict), and not repeated once it may have reached the server."""
        body: dict[str, Any] = {
            "maxCount": max_count,
            "maxAgeSeconds": max_age_seconds,
            "truncateBefore": truncate_before,
        }
        if expected_revision is not None:
            body["expectedMetadataRevision"] = expected_revision
        url = self._transport.url("streams", stream_type, stream_id, "metadata")
        response = self._transport.request("PUT", url, body, replay_safe=expected_revision is None)
        return StreamMetadata.from_json(response.body["metadata"])

    def erase_data_subject(self, data_subject: str) -> None:
        """Destroy the subject's key: its payloads read back as None (`payload_erased`) from then on, and
        appends naming it fail (410). Idempotent, so safe to retry."""
        self._transport.request("DELETE", self._transport.url("data-subjects", data_subject))

    def get_data_subject(self, data_subject: str) -> DataSubject:
        body = self._transport.request("GET", self._transport.url("data-subjects", data_subject)).body
        return DataSubject.from_json(body)

    def get_snapshot(self, stream_type: str, stream_id: str) -> Snapshot:
        """The stream's snapshot; SnapshotNotFound when it has none (also for an unknown stream)."""
        url = self._transport.url("streams", stream_type, stream_id, "snapshot")
        return Snapshot.from_json(self._transport.request("GET", url).body["snapshot"])

    def put_snapshot(
        self,
        stream_type: str,
        stream_id: str,
        revision: int,
        snapshot_type: str,
        state: Any,
        *,
        data_subject: str | None = None,
    ) -> SnapshotWritten:
        """Store `state` (JSON) as the stream's snapshot as of `revision`. SnapshotConflict when the stream
        keeps a newer one (or another at this revision); SnapshotBeyondRevision past the stream's revision;
        with `data_subject` the state is encrypted under that subject's key and erased with it. Safe to
        retry: the same snapshot again is answered as a replay."""
        body: dict[str, Any] = {"revision": revision, "snapshotType": snapshot_type, "state": state}
        if data_subject is not None:
            body["dataSubject"] = data_subject
        url = self._transport.url("streams", stream_type, stream_id, "snapshot")
        response = self._transport.request("PUT", url, body)
        written = response.body["snapshot"]
        return SnapshotWritten(
            revision=int(written["revision"]),
            snapshot_type=str(written["snapshotType"]),
            created_at=parse_timestamp(str(written["createdAt"])),
            replayed=str(response.headers.get("Idempotent-Replay", "")).lower() == "true",
            data_subject=str(written["dataSubject"]) if written.get("dataSubject") else None,
        )

    def load[S](
        self,
        stream_type: str,
        stream_id: str,
        initial: S,
        fold: Callable[[S, RecordedEvent], S],
        *,
        snapshot_type: str | None = None,
        snapshot_every: int | None = None,
        data_subject: str | None = None,
        to_json: Callable[[S], Any] | None = None,
        from_json: Callable[[Any], S] | None = None,
    ) -> Loaded[S]:
        """Fold the stream's events into a state, starting from its snapshot when there is one.

        With `snapshot_type`, the stream's snapshot of that type is read first (one request) and only the
        events after it are read (all pages); a snapshot of another type, or whose subject was erased, is
        ignored (the fold starts from `initial` and the first event). With `snapshot_every=N` too, a load
        that folded N or more events stores the state as the new snapshot (under `data_subject`, if its
        state is about a person); a racing writer's newer snapshot (409) or an erased subject (410) does not
        fail the load. The state must be JSON, or `to_json`/`from_json` convert it."""
        if snapshot_every is not None and (snapshot_type is None or snapshot_every < 1):
            raise ValueError("snapshot_every needs a snapshot_type and must be 1 or more")
        state, revision, start = initial, 0, None
        if snapshot_type is not None:
            try:
                snapshot = self.get_snapshot(stream_type, stream_id)
            except SnapshotNotFound:
                snapshot = None
            if snapshot is not None and snapshot.snapshot_type == snapshot_type and not snapshot.state_erased:
                state = from_json(snapshot.state) if from_json is not None else snapshot.state
                revision = start = snapshot.revision
        count = 0
        for event in self.read_events(
            stream_type, stream_id, after_revision=revision, page_size=MAX_PAGE_SIZE
        ):
            state, revision, count = fold(state, event), event.revision, count + 1
        written = False
        if snapshot_type is not None and snapshot_every is not None and count >= snapshot_every:
            content = to_json(state) if to_json is not None else state
            try:
                self.put_snapshot(
                    stream_type, stream_id, revision, snapshot_type, content, data_subject=data_subject
                )
                written = True
            except (SnapshotConflict, DataSubjectErased):
                # Another loader stored a newer snapshot, or the subject is gone: this load's state stands.
                pass
        return Loaded(state, revision, start, count, written)


def _as_batch(events: NewEvent | Sequence[NewEvent]) -> tuple[NewEvent, ...]:
    batch = (events,) if isinstance(events, NewEvent) else tuple(events)
    if not batch:
        raise ValueError("at least one event is required")
    return batch


def _written(body: Any, headers: Mapping[str, str], batch: tuple[NewEvent, ...]) -> AppendResult:
    replayed = str(headers.get("Idempotent-Replay", "")).lower() == "true"
    return AppendResult(
        stream=Stream.from_json(body["stream"]), replayed=replayed, event_ids=tuple(e.event_id for e in batch)
    )
