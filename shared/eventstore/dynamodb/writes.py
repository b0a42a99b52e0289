"""Writes: create and append as one conditional PutItem of a commit item, with idempotent retries.

Each append reads the stream's newest commit (one consistent Query) and writes the next one unless its key
is taken. A taken key is either a retry of this very request (the same content digest: answered as a
replay), a clash of event ids (409) or a lost race (409, or retried for an "any" append).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Final

from botocore.exceptions import ClientError

from eventstore import timefmt
from eventstore.appends import AppendResult, NewEvent, Sealing
from eventstore.commits import Commit, Item, content_digest, decode_commit, encode_commit
from eventstore.domain import (
    ANY_REVISION,
    Caller,
    EventIdConflict,
    ExpectedRevision,
    ServiceUnavailable,
    StreamAlreadyExists,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedRevision,
)
from eventstore.dynamodb.access import (
    MAX_REVISION,
    Settling,
    Table,
    condition_failed,
    decode_head,
    dynamodb_errors,
    live,
)
from eventstore.dynamodb.markers import ListingMarkers, listing_entry
from eventstore.erasure import seal_without_keys
from eventstore.lifecycle import DELETED, LifecycleMarker
from eventstore.payloads import NoPayloadObjects, PayloadObjects, store_large
from eventstore.store import ANY_RETRY_HORIZON

ANY_APPEND_BUDGET: Final = timedelta(seconds=5)
"""How long an "any" append keeps retrying lost races: well inside the functions' timeout (10 s by default)
and API Gateway's 29 s, so a stream that stays this busy answers a 503 with Retry-After, not a timeout."""
ANY_BACKOFF_FIRST_SECONDS: Final = 0.005
ANY_BACKOFF_MAX_SECONDS: Final = 1.0


class CommitWriter:
    """create and append on one table."""

    def __init__(
        self,
        table: Table,
        markers: ListingMarkers,
        settling: Settling,
        *,
        any_append_budget: timedelta = ANY_APPEND_BUDGET,
        seal: Callable[[str, Sequence[NewEvent]], Sealing] = seal_without_keys,
        payloads: PayloadObjects | None = None,
    ) -> None:
        self._table = table
        self._seal = seal
        self._payloads = payloads or NoPayloadObjects()
        self._markers = markers
        self._clock = settling.clock
        self._any_budget = any_append_budget.total_seconds()
        # From the OS on every draw, not from state seeded at init: environments restored from one SnapStart
        # snapshot would otherwise back off in lockstep.
        self._jitter = random.SystemRandom()

    def create(
        self, stream_type: str, stream_id: str, events: Sequence[NewEvent], caller: Caller
    ) -> AppendResult:
        sealing = self._seal(stream_id, events)
        digest = content_digest(events, sealing.fingerprints)
        commit = self._commit_item(
            stream_type, stream_id, 1, (events, sealing), digest, caller=caller, after=None
        )
        existing = self._put_commit(commit)
        if existing is None:
            return _written(commit)
        if not isinstance(existing, Commit) or existing.stream_type != stream_type:
            raise StreamAlreadyExists(stream_id, None)
        if existing.digest == digest:
            return self._replayed(existing)
        if existing.event_ids & {e.event_id for e in events}:
            raise EventIdConflict(1)
        head = self._table.head(stream_type, stream_id)
        if isinstance(head, LifecycleMarker) and head.kind == DELETED:
            # Creating a soft-deleted stream starts it again, after its last revision.
            return self._append_at(
                stream_type, stream_id, head.last_revision, (events, sealing), digest=digest, caller=caller
            )
        raise StreamAlreadyExists(stream_id, live(head).last_revision)

    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        events: Sequence[NewEvent],
        caller: Caller,
    ) -> AppendResult:
        sealing = self._seal(stream_id, events)
        digest = content_digest(events, sealing.fingerprints)
        if expected == ANY_REVISION:
            return self._append_any(stream_type, stream_id, (events, sealing), digest, caller)
        return self._append_at(
            stream_type, stream_id, expected, (events, sealing), digest=digest, caller=caller
        )

    def _append_at(
        self,
        stream_type: str,
        stream_id: str,
        expected: int,
        sealed: tuple[Sequence[NewEvent], Sealing],
        *,
        digest: str,
        caller: Caller,
    ) -> AppendResult:
        events = sealed[0]
        newest = self._table.head(stream_type, stream_id)
        if isinstance(newest, LifecycleMarker) and newest.kind != DELETED:
            raise StreamDeleted(stream_type, stream_id)
        if expected > newest.last_revision:
            raise WrongExpectedRevision(expected, newest.last_revision)
        if expected < newest.last_revision:
            # Either a retry of an append that already happened, or a stale writer.
            earlier = self._table.get_commit(stream_id, expected + 1)
            return self._resolve_collision(stream_type, stream_id, expected, earlier, digest, events=events)
        commit = self._commit_item(
            stream_type, stream_id, expected + 1, sealed, digest, caller=caller, after=newest
        )
        # After a soft delete the appender read the marker as the head: it takes the marker's slot.
        replacing = newest if isinstance(newest, LifecycleMarker) else None
        existing = self._put_commit(commit, replacing)
        if existing is None:
            return _written(commit)
        return self._resolve_collision(stream_type, stream_id, expected, existing, digest, events=events)

    def _append_any(
        self,
        stream_type: str,
        stream_id: str,
        sealed: tuple[Sequence[NewEvent], Sealing],
        digest: str,
        caller: Caller,
    ) -> AppendResult:
        """Append after whatever is newest. There is no expectation to get wrong, so a lost race is
        retried, after a jittered exponential back-off (so racing writers spread out instead of colliding
        again), until the budget is spent. A retry of this very request is recognised while it is among
        the newest commits when this one starts; every commit that lands while it retries is checked too
        (read in order from the one that won the race), so a retry running beside it cannot duplicate
        its events however busy the stream is."""
        ids = {e.event_id for e in sealed[0]}
        deadline = time.monotonic() + self._any_budget
        backoff, attempt = ANY_BACKOFF_FIRST_SECONDS, 0
        unseen: list[Commit | LifecycleMarker] = self.recent_or_raise(stream_type, stream_id)[::-1]
        while True:
            attempt += 1
            for commit in unseen:
                if not isinstance(commit, Commit):
                    continue
                if commit.digest == digest:
                    return self._replayed(commit)
                if commit.event_ids & ids:
                    raise EventIdConflict(commit.first_revision)
            newest = unseen[-1]
            if isinstance(newest, LifecycleMarker) and newest.kind != DELETED:
                raise StreamDeleted(stream_type, stream_id)
            # A marker's key is its last revision + 1, like a commit's successor: a soft-deleted stream
            # starts again there, replacing the marker.
            item = self._commit_item(
                stream_type, stream_id, newest.last_revision + 1, sealed, digest, caller=caller, after=newest
            )
            winner = self._put_commit(item, newest if isinstance(newest, LifecycleMarker) else None)
            if winner is None:
                return _written(item, attempts=attempt)
            # "Full jitter": a uniform pause up to the (doubling, capped) back-off.
            pause = self._jitter.uniform(0, backoff)
            if time.monotonic() + pause >= deadline:
                raise ServiceUnavailable(
                    f"the stream is too busy: appends kept losing races for {self._any_budget:g} s; "
                    "nothing was written; retry the request"
                )
            time.sleep(pause)
            backoff = min(2 * backoff, ANY_BACKOFF_MAX_SECONDS)
            # After a marker (key = its last revision + 1) the read starts at the marker's key: what holds
            # it now (the marker, or a restart that replaced it) and everything after.
            following = self._heads_after(stream_id, winner.last_revision)
            unseen = following if isinstance(winner, LifecycleMarker) and following else [winner, *following]

    def _heads_after(self, stream_id: str, revision: int) -> list[Commit | LifecycleMarker]:
        """Every item keyed after `revision` (commits, and a marker at the end), oldest first, consistently
        read."""
        heads: list[Commit | LifecycleMarker] = []
        more = True
        while more:
            page, more = self._table.heads(
                stream_id, revision + 1, MAX_REVISION, newest_first=False, limit=ANY_RETRY_HORIZON
            )
            heads += page
            revision = page[-1].last_revision if page else revision
            if page and isinstance(page[-1], LifecycleMarker):
                break  # a marker is always the newest item
        return heads

    def recent_or_raise(self, stream_type: str, stream_id: str) -> list[Commit | LifecycleMarker]:
        """The stream's newest items, newest first: those a retried "any" append is recognised among."""
        heads, _ = self._table.heads(stream_id, 1, MAX_REVISION, newest_first=True, limit=ANY_RETRY_HORIZON)
        if not heads or heads[0].stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        return heads

    def _resolve_collision(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        existing: Commit | LifecycleMarker | None,
        digest: str,
        *,
        events: Sequence[NewEvent],
    ) -> AppendResult:
        if isinstance(existing, Commit) and existing.stream_type == stream_type:
            if existing.digest == digest:
                return self._replayed(existing)
            if existing.event_ids & {e.event_id for e in events}:
                raise EventIdConflict(existing.first_revision)
        head = self._table.head(stream_type, stream_id)
        if isinstance(head, LifecycleMarker) and head.kind != DELETED:
            raise StreamDeleted(stream_type, stream_id)
        raise WrongExpectedRevision(expected, head.last_revision, deleted=isinstance(head, LifecycleMarker))

    def _commit_item(
        self,
        stream_type: str,
        stream_id: str,
        first_revision: int,
        sealed: tuple[Sequence[NewEvent], Sealing],
        digest: str,
        *,
        caller: Caller,
        after: Commit | LifecycleMarker | None,
    ) -> Item:
        events, sealing = sealed
        now = self._clock()
        if after is not None:
            # committedAt is monotonic per stream even if Lambda clocks disagree by a little.
            now = max(now, timefmt.parse(after.committed_at) + timedelta(microseconds=1))
        stamp = timefmt.format_instant(now)
        item: Item = {
            **encode_commit(
                stream_type,
                stream_id,
                first_revision,
                events,
                committed_at=stamp,
                digest=digest,
                caller=caller,
                sealed=sealing.ciphertexts,
            ),
            **listing_entry(self._table.layout, stream_type, stream_id, first_revision, now),
            # Tells this write from an earlier request's when the SDK's retry finds the key taken.
            "writeId": {"S": secrets.token_hex(8)},
        }
        # Payloads the item cannot hold are uploaded now, before the PutItem that points to them.
        return store_large(item, self._payloads)

    def _put_commit(
        self, item: Item, replacing: LifecycleMarker | None = None
    ) -> Commit | LifecycleMarker | None:
        """Write a commit unless its key exists (or, `replacing` a soft delete's marker, unless the key holds
        anything but that marker); return what holds the key when it does."""
        started = time.monotonic()
        condition: Any = {
            "ConditionExpression": "attribute_not_exists(#rev)",
            "ExpressionAttributeNames": {"#rev": self._table.layout.range_key},
        }
        if replacing is not None:
            # Marks the one kind of commit that MODIFYs an item, so the event source mapping passes it.
            item = {**item, "replaces": {"S": replacing.write_id}}
            condition = {
                "ConditionExpression": "#kind = :deleted AND writeId = :marker",
                "ExpressionAttributeNames": {"#kind": "kind"},
                "ExpressionAttributeValues": {
                    ":deleted": {"S": DELETED},
                    ":marker": {"S": replacing.write_id},
                },
            }
        try:
            with dynamodb_errors():
                self._table.client.put_item(
                    TableName=self._table.name,
                    Item=item,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **condition,
                )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            # Emulators that do not return ALL_OLD: read the winner instead.
            old: Any = exc.response.get("Item") or self._table.get_item(
                item["streamId"]["S"], int(item["revision"]["N"])
            )
            if old is None and replacing is not None:
                raise ServiceUnavailable(
                    "the stream's deletion marker changed while restarting it; retry"
                ) from exc
            if old is None or old.get("writeId") != item["writeId"]:
                return decode_head(old) if old else None
            # This very write, found by the SDK's retry after its first answer was lost: it is written
            # (not a replay), and it may have landed late.
        self._markers.mark_if_slow(decode_commit(item), started)
        return None

    def _replayed(self, commit: Commit) -> AppendResult:
        """A retry of an append that was written: the original result."""
        self._markers.mark_replayed(commit)
        return AppendResult(commit.state(), replayed=True, first_revision=commit.first_revision)


def _written(item: Item, attempts: int = 1) -> AppendResult:
    commit = decode_commit(item)
    return AppendResult(
        commit.state(), replayed=False, first_revision=commit.first_revision, attempts=attempts
    )
