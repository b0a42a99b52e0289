"""The reference store: the EventStore, FeedStore, SnapshotStore and NotificationCursor in memory, as
simple as their contract.

It holds the same guarantees as the DynamoDB store (tests/core/test_store_contract.py runs one suite
against both) through the same commit codec, so idempotent replays, conflicts and payload round trips
agree. Listing is simpler: every commit is visible once written, so everything is settled at once (the
horizon is the newest stamp when a listing starts). The feeds are written by the same writer as the
DynamoDB store's (eventstore.feedwriter), run right after each commit under the lock. The client's fake server
runs on it.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from eventstore import timefmt
from eventstore.appends import AppendResult, NewEvent, Sealing
from eventstore.checkpoints import Checkpoint
from eventstore.commits import Commit, Item, content_digest, decode_commit, encode_commit
from eventstore.domain import (
    ANY_REVISION,
    Caller,
    CheckpointConflict,
    CheckpointNotFound,
    EventIdConflict,
    EventPage,
    ExpectedRevision,
    MetadataConflict,
    NotGiven,
    RecordedEvent,
    SnapshotBeyondStream,
    SnapshotConflict,
    SnapshotNotFound,
    StreamAlreadyExists,
    StreamDeleted,
    StreamNotFound,
    StreamState,
    WrongExpectedRevision,
)
from eventstore.erasure import DataSubjectState, Keyring, LocalKeyService, MemorySubjectKeys
from eventstore.feedreads import FeedPage, StreamTypeInfo, StreamTypePage, read_page
from eventstore.feeds import ALL_FEED, FeedIndex, FeedItem, block_of, block_range, stream_type_number
from eventstore.feedwriter import FeedWriter, StreamCursors
from eventstore.lifecycle import (
    DELETED,
    TOMBSTONE,
    DeleteMode,
    LifecycleMarker,
    Retention,
    StreamControl,
    StreamMetadata,
    Visibility,
    new_marker,
    visibility,
    visible_part,
)
from eventstore.listing import StreamPage
from eventstore.pagekeys import PageKeySigner, decode_listing_key
from eventstore.payloads import MemoryPayloadObjects, PayloadObjects, load, store_large, within_budget
from eventstore.positions import check_position
from eventstore.snapshots import (
    NewSnapshot,
    Snapshot,
    SnapshotWritten,
    as_written,
    decode_snapshot,
    encode_snapshot,
    seal,
    stored_digest,
    stored_revision,
)
from eventstore.store import ANY_RETRY_HORIZON, MAX_PAGE_EVENTS

PAGE_KEY_VERSION: Final = 1
_TICK: Final = timedelta(microseconds=1)


class MemoryEventStore:
    """EventStore, FeedStore and NotificationCursor over dicts, one (re-entrant) lock around each call."""

    def __init__(
        self,
        *,
        page_keys: PageKeySigner | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        keyring: Keyring | None = None,
        payloads: PayloadObjects | None = None,
        retention: Mapping[str, Retention] | None = None,
    ) -> None:
        self._retention = dict(retention or {})
        # A stream's lifecycle marker while it is its head (deleted or tombstoned), and its control item.
        self._markers: dict[str, LifecycleMarker] = {}
        self._controls: dict[str, StreamControl] = {}
        # The reference keyring: keys wrapped under a master key in memory (LocalKeyService), not KMS.
        self.keyring = keyring or Keyring(MemorySubjectKeys(), LocalKeyService())
        # Large payloads go to a bucket here too, so the contract suite covers offloading in every store.
        self.payloads = payloads or MemoryPayloadObjects()
        self._page_keys = page_keys or PageKeySigner(secrets.token_bytes(32))
        self._clock = clock
        self._lock = threading.RLock()
        self._streams: dict[str, list[Commit]] = {}
        self._cursors: dict[str, StreamCursors] = {}
        self._feeds: dict[str, list[FeedItem]] = {}
        self._checkpoints: dict[str, Checkpoint] = {}
        self._snapshots: dict[str, Item] = {}
        self._feed_writer = FeedWriter(self, clock=clock)
        self._last_stamp = datetime(1970, 1, 1, tzinfo=UTC)

    # EventStore

    def create(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult:
        sealing = self.keyring.seal(stream_id, events)
        digest = content_digest(events, sealing.fingerprints)
        with self._lock:
            commits = self._streams.get(stream_id)
            if not commits:
                return self._write(stream_type, stream_id, 1, (events, sealing), digest=digest, caller=caller)
            first = commits[0]
            if first.stream_type != stream_type:
                raise StreamAlreadyExists(stream_id, None)  # the other type's revision is not the caller's
            if first.digest == digest:
                return _replayed(first)
            if first.event_ids & {e.event_id for e in events}:
                raise EventIdConflict(1)
            marker = self._markers.get(stream_id)
            if marker is not None and marker.kind == DELETED:
                # Creating a soft-deleted stream starts it again, after its last revision.
                return self._write(
                    stream_type, stream_id, marker.key, (events, sealing), digest=digest, caller=caller
                )
            if marker is not None:
                raise StreamDeleted(stream_type, stream_id)
            raise StreamAlreadyExists(stream_id, commits[-1].last_revision)

    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        events: Sequence[NewEvent],
        caller: Caller,
    ) -> AppendResult:
        sealing = self.keyring.seal(stream_id, events)
        digest, ids = content_digest(events, sealing.fingerprints), {e.event_id for e in events}
        with self._lock:
            commits = self._commits(stream_type, stream_id)
            current = commits[-1].last_revision
            marker = self._markers.get(stream_id)
            if marker is not None and marker.kind == TOMBSTONE:
                raise StreamDeleted(stream_type, stream_id)
            if expected == ANY_REVISION:
                for commit in commits[-ANY_RETRY_HORIZON:]:
                    if commit.digest == digest:
                        return _replayed(commit)
                    if commit.event_ids & ids:
                        raise EventIdConflict(commit.first_revision)
                return self._write(
                    stream_type, stream_id, current + 1, (events, sealing), digest=digest, caller=caller
                )
            if expected > current:
                raise WrongExpectedRevision(expected, current, deleted=marker is not None)
            if expected < current:
                # A retry of an append that happened (the commit right after `expected`), or a stale writer.
                earlier = next((c for c in commits if c.first_revision == expected + 1), None)
                if earlier is not None and earlier.digest == digest:
                    return _replayed(earlier)
                if earlier is not None and earlier.event_ids & ids:
                    raise EventIdConflict(earlier.first_revision)
                raise WrongExpectedRevision(expected, current, deleted=marker is not None)
            return self._write(
                stream_type, stream_id, current + 1, (events, sealing), digest=digest, caller=caller
            )

    def read(self, stream_type: str, stream_id: str, after_revision: int, limit: int) -> EventPage:
        with self._lock:
            commits = self._live(stream_type, stream_id)
            shown = self._visibility(stream_id, stream_type, commits[-1].last_revision)
        limit = min(limit, MAX_PAGE_EVENTS)
        start = max(after_revision + 1, shown.floor)
        following = [e for c in commits for e in c.events if e.revision >= start]
        visible = [e for e in following if shown.visible(e)]
        page, cut = within_budget(visible[:limit], self._open_event)
        if page:
            last = page[-1].revision
        else:
            last = max(following[-1].revision if following else start - 1, after_revision)
        # As the DynamoDB store: a full page says more may follow.
        return EventPage(
            tuple(page),
            has_more=cut or len(visible) >= limit,
            last_evaluated_revision=last,
            first_revision=page[0].revision if page else start,
        )

    def _open_event(self, event: RecordedEvent) -> RecordedEvent:
        return self.keyring.open_events((load(event, self.payloads),))[0]

    def _open_commit(self, commit: Commit) -> Commit:
        return self.keyring.open_commit(
            replace(commit, events=tuple(load(e, self.payloads) for e in commit.events))
        )

    def describe(self, stream_type: str, stream_id: str) -> StreamState:
        with self._lock:
            return self._live(stream_type, stream_id)[-1].state()

    def delete(self, stream_type: str, stream_id: str, expected: int | None, mode: DeleteMode) -> None:
        with self._lock:
            current = self._commits(stream_type, stream_id)[-1].last_revision
            marker = self._markers.get(stream_id)
            if marker is not None and marker.kind == TOMBSTONE:
                if mode == "tombstone":
                    return
                raise StreamDeleted(stream_type, stream_id)
            if expected is not None and expected != current:
                raise WrongExpectedRevision(expected, current, deleted=marker is not None)
            if marker is not None and mode == "soft":
                return
            marker = new_marker(stream_id, stream_type, mode, current, self._stamp())
            self._markers[stream_id] = marker
            self.complete_deletion(marker)
            self._snapshots.pop(stream_id, None)

    def get_metadata(self, stream_type: str, stream_id: str) -> StreamMetadata:
        with self._lock:
            self._live(stream_type, stream_id)
            return self._controls.get(stream_id, StreamControl()).metadata

    def set_metadata(
        self, stream_type: str, stream_id: str, metadata: StreamMetadata, expected: int | None
    ) -> StreamMetadata:
        with self._lock:
            self._live(stream_type, stream_id)
            control = self._controls.get(stream_id, StreamControl())
            current = control.metadata.revision
            if expected is not None and expected != current:
                raise MetadataConflict(expected, current)
            stored = dataclasses.replace(metadata, revision=current + 1)
            self._controls[stream_id] = dataclasses.replace(control, stream_type=stream_type, metadata=stored)
            return stored

    def list_streams(
        self, stream_type: str, updated_after: datetime | None, limit: int, page_key: str | None
    ) -> StreamPage:
        try:
            lower = timefmt.format_instant((updated_after or datetime(1970, 1, 1, tzinfo=UTC)) + _TICK)
        except OverflowError:
            return StreamPage((), has_more=False, next_page_key=None, settled_until=None)
        with self._lock:
            if page_key is None:
                # Every later commit is stamped after this: a poll from here lists it.
                cursor, horizon = lower, timefmt.format_instant(self._stamp())
            else:
                cursor, horizon = decode_listing_key(
                    self._page_keys, page_key, stream_type, lower, PAGE_KEY_VERSION
                )
            # Positions as in the DynamoDB store's index: the time, then the stream id (unique, ordered);
            # a bare time as the cursor is before every position at that time.
            positions = sorted(
                (f"{commits[-1].committed_at}|{stream_id}", commits[-1].state())
                for stream_id, commits in self._streams.items()
                if commits[-1].stream_type == stream_type and stream_id not in self._markers
            )
        following = [(position, state) for position, state in positions if position > cursor]
        page = following[:limit]
        next_key = None
        if len(following) > limit:
            content = {"v": PAGE_KEY_VERSION, "type": stream_type, "after": lower}
            next_key = self._page_keys.encode(content | {"position": page[-1][0], "upper": horizon})
        return StreamPage(
            tuple(state for _, state in page),
            has_more=next_key is not None,
            next_page_key=next_key,
            settled_until=horizon,
        )

    def erase_data_subject(self, data_subject: str, caller: Caller) -> DataSubjectState:
        return self.keyring.erase(data_subject, caller)

    def data_subject(self, data_subject: str) -> DataSubjectState:
        return self.keyring.describe(data_subject)

    # FeedStore

    def read_feed(
        self,
        stream_type: str | None,
        after: str | None,
        limit: int,
        *,
        event_types: frozenset[str] | None = None,
        member: int | None = None,
        size: int | None = None,
    ) -> FeedPage:
        return read_page(
            self,
            stream_type,
            after,
            limit,
            event_types=event_types,
            member=member,
            size=size,
            open_commit=self._open_commit,
        )

    def stream_types(self, after: str | None, limit: int) -> StreamTypePage:
        """As the DynamoDB store's registry: a type is listed once the all-types feed holds one of its
        commits (first seen then), in the order of the number its name hashes to."""
        first_seen: dict[str, str] = {}
        with self._lock:
            for item in self._feeds.get(ALL_FEED, []):
                for ref in item.refs:
                    first_seen.setdefault(ref.stream_type, item.written_at)
        registry = sorted((stream_type_number(name), name, seen) for name, seen in first_seen.items())
        start = stream_type_number(after) if after is not None else -1
        following = [StreamTypeInfo(name, seen) for number, name, seen in registry if number > start]
        page = tuple(following[:limit])
        return StreamTypePage(
            page, has_more=len(following) > limit, last_stream_type=page[-1].stream_type if page else after
        )

    def get_checkpoint(self, name: str) -> Checkpoint:
        with self._lock:
            checkpoint = self._checkpoints.get(name)
        if checkpoint is None:
            raise CheckpointNotFound(name)
        return checkpoint

    def put_checkpoint(self, name: str, position: str, expected: str | NotGiven | None) -> Checkpoint:
        check_position(position, "/body/position")
        with self._lock:
            stored = self._checkpoints.get(name)
            if not isinstance(expected, NotGiven) and (stored.position if stored else None) != expected:
                raise CheckpointConflict(name, stored.position if stored else None)
            checkpoint = Checkpoint(name, position, timefmt.format_instant(self._clock()))
            self._checkpoints[name] = checkpoint
            return checkpoint

    # SnapshotStore: the same item as the DynamoDB store's, kept by stream id

    def put_snapshot(self, stream_type: str, stream_id: str, snapshot: NewSnapshot) -> SnapshotWritten:
        with self._lock:
            current = self._live(stream_type, stream_id)[-1].last_revision
        if snapshot.revision > current:
            raise SnapshotBeyondStream(snapshot.revision, current)
        sealed, digest = seal(stream_id, snapshot, self.keyring)
        created_at = timefmt.format_instant(self._clock())
        item = encode_snapshot(
            stream_type, stream_id, snapshot, created_at=created_at, digest=digest, sealed=sealed
        )
        written = as_written(stream_type, stream_id, snapshot, created_at)
        with self._lock:
            stored = self._snapshots.get(stream_id)
            if stored is None or stored_revision(stored) < snapshot.revision:
                self._snapshots[stream_id] = item
                return SnapshotWritten(written, replayed=False)
        if stored_revision(stored) == snapshot.revision and stored_digest(stored) == digest:
            return SnapshotWritten(replace(written, created_at=stored["createdAt"]["S"]), replayed=True)
        raise SnapshotConflict(snapshot.revision, stored_revision(stored))

    def get_snapshot(self, stream_type: str, stream_id: str) -> Snapshot:
        with self._lock:
            stored = self._snapshots.get(stream_id)
        if stored is None or stored["streamType"]["S"] != stream_type:
            raise SnapshotNotFound(stream_type, stream_id)
        return self.keyring.open_snapshot(decode_snapshot(stored))

    # FeedSource

    def items(self, feed: str, first: int, limit: int) -> list[FeedItem]:
        with self._lock:
            return self._feeds.get(feed, [])[max(first, 1) - 1 : max(first, 1) - 1 + limit]

    def items_at(self, sequences: Sequence[int]) -> dict[int, FeedItem]:
        with self._lock:
            items = self._feeds.get(ALL_FEED, [])
            return {k: items[k - 1] for k in sequences if 0 < k <= len(items)}

    def indexes(self, first: int, limit: int) -> list[FeedIndex]:
        opening = self.items_at([block_range(b)[1] + 1 for b in range(first, first + limit)])
        return [FeedIndex(block_of(k) - 1, item.block_index) for k, item in sorted(opening.items())]

    def commits(self, keys: Collection[tuple[str, int]]) -> dict[tuple[str, int], Commit]:
        with self._lock:
            found: dict[tuple[str, int], Commit] = {}
            for stream_id in {k[0] for k in keys}:
                commits = self._streams.get(stream_id, [])
                if not commits:
                    continue
                # As the DynamoDB store: a max count counts back from the last fed revision.
                fed = self._cursors.get(stream_id, StreamCursors()).fed
                shown = self._visibility(stream_id, commits[0].stream_type, fed)
                gone = self._controls.get(stream_id, StreamControl()).tombstoned
                for commit in commits:
                    if (stream_id, commit.first_revision) in keys:
                        part = visible_part(commit, None if gone else shown)
                        if part is not None:
                            found[stream_id, commit.first_revision] = part
            return found

    # FeedLog and NotificationCursor

    def head(self, feed: str) -> FeedItem | None:
        with self._lock:
            items = self._feeds.get(feed)
            return items[-1] if items else None

    def put(self, item: FeedItem) -> bool:
        with self._lock:
            items = self._feeds.setdefault(item.feed, [])
            if len(items) != item.sequence - 1:
                return False
            items.append(item)
            return True

    def block(self, first: int, last: int) -> list[FeedItem]:
        return self.items(ALL_FEED, first, last - first + 1)

    def cursors(self, stream_ids: Collection[str]) -> dict[str, StreamCursors]:
        with self._lock:
            return {s: self._cursors.get(s, StreamCursors()) for s in stream_ids}

    def advance_fed(self, stream_id: str, stream_type: str, revision: int) -> None:
        del stream_type  # the DynamoDB store records it on the summary item; nothing here reads it
        with self._lock:
            current = self._cursors.get(stream_id, StreamCursors())
            if current.fed < revision:
                self._cursors[stream_id] = StreamCursors(revision, current.notified)

    def move_cursors(
        self, stream_id: str, stream_type: str, fed: int, notified: int, read: StreamCursors
    ) -> bool:
        del stream_type
        with self._lock:
            current = self._cursors.get(stream_id, StreamCursors())
            if current.notified != read.notified or current.fed > fed:
                return False
            self._cursors[stream_id] = StreamCursors(fed, notified)
            return True

    def commits_between(self, stream_id: str, first_revision: int, last_revision: int) -> list[Commit]:
        with self._lock:
            commits = self._streams.get(stream_id, [])
            return [c for c in commits if first_revision <= c.first_revision <= last_revision]

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        """Never: a commit here is visible the moment it is stamped."""
        del commit, written_at
        return False

    def complete_deletion(self, marker: LifecycleMarker) -> None:
        with self._lock:
            control = self._controls.get(marker.stream_id, StreamControl())
            if marker.kind == TOMBSTONE:
                control = dataclasses.replace(control, tombstoned=True)
            else:
                control = dataclasses.replace(control, deleted_before=max(control.deleted_before, marker.key))
            self._controls[marker.stream_id] = dataclasses.replace(control, stream_type=marker.stream_type)

    # Inside the lock

    def _commits(self, stream_type: str, stream_id: str) -> list[Commit]:
        commits = self._streams.get(stream_id)
        if not commits or commits[0].stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        return commits

    def _live(self, stream_type: str, stream_id: str) -> list[Commit]:
        """The commits of a stream that is not deleted (StreamNotFound) or tombstoned (StreamDeleted)."""
        commits = self._commits(stream_type, stream_id)
        marker = self._markers.get(stream_id)
        control = self._controls.get(stream_id, StreamControl())
        if (marker is not None and marker.kind == TOMBSTONE) or control.tombstoned:
            raise StreamDeleted(stream_type, stream_id)
        if marker is not None:
            raise StreamNotFound(stream_type, stream_id)
        return commits

    def _visibility(self, stream_id: str, stream_type: str, last_revision: int) -> Visibility:
        control = self._controls.get(stream_id, StreamControl())
        return visibility(control, self._retention.get(stream_type), self._clock(), last_revision)

    def _stamp(self) -> datetime:
        """The clock's time, but after every earlier stamp: commit times never tie or go backwards."""
        self._last_stamp = max(self._clock(), self._last_stamp + _TICK)
        return self._last_stamp

    def _write(
        self,
        stream_type: str,
        stream_id: str,
        first_revision: int,
        sealed: tuple[Sequence[NewEvent], Sealing],
        *,
        digest: str,
        caller: Caller,
    ) -> AppendResult:
        events, sealing = sealed
        item = encode_commit(
            stream_type,
            stream_id,
            first_revision,
            events,
            committed_at=timefmt.format_instant(self._stamp()),
            digest=digest,
            caller=caller,
            sealed=sealing.ciphertexts,
        )
        # The DynamoDB store's items are a little larger (its listing-index entry).
        commit = decode_commit(store_large(item, self.payloads))
        commits = self._streams.setdefault(stream_id, [])
        commits.append(commit)
        self._markers.pop(stream_id, None)  # a restart takes the soft delete's slot
        outcome = self._feed_writer.feed(
            [stream_id],
            lambda cursors: {stream_id: [c for c in commits if c.first_revision > cursors[stream_id].fed]},
        )
        self._feed_writer.finish(outcome)
        return AppendResult(commit.state(), replayed=False, first_revision=first_revision)


def _replayed(commit: Commit) -> AppendResult:
    return AppendResult(commit.state(), replayed=True, first_revision=commit.first_revision)
