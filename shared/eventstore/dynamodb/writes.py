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
from eventstore.commits import Commit, Item, content_digest, decode_commit, encode_commit
from eventstore.domain import (
    ANY_REVISION,
    AppendResult,
    Caller,
    EventIdConflict,
    ExpectedRevision,
    NewEvent,
    ServiceUnavailable,
    StreamAlreadyExists,
    StreamNotFound,
    WrongExpectedRevision,
)
from eventstore.dynamodb.access import MAX_REVISION, Settling, Table, condition_failed, dynamodb_errors
from eventstore.dynamodb.markers import ListingMarkers, listing_entry
from eventstore.erasure import Sealing, seal_without_keys
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
        if existing.digest == digest and existing.stream_type == stream_type:
            return self._replayed(existing)
        if existing.stream_type != stream_type:
            raise StreamAlreadyExists(stream_id, None)
        if existing.event_ids & {e.event_id for e in events}:
            raise EventIdConflict(1)
        raise StreamAlreadyExists(
            stream_id, self._table.newest_or_raise(stream_type, stream_id).last_revision
        )

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
        newest = self._table.newest_or_raise(stream_type, stream_id)
        if expected > newest.last_revision:
            raise WrongExpectedRevision(expected, newest.last_revision)
        if expected < newest.last_revision:
            # Either a retry of an append that already happened, or a stale writer.
            earlier = self._table.get_commit(stream_id, expected + 1)
            return self._resolve_collision(stream_type, stream_id, expected, earlier, digest, events=events)
        commit = self._commit_item(
            stream_type, stream_id, expected + 1, (events, sealing), digest, caller=caller, after=newest
        )
        existing = self._put_commit(commit)
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
        unseen = self.recent_or_raise(stream_type, stream_id)[::-1]  # oldest first
        while True:
            attempt += 1
            for commit in unseen:
                if commit.digest == digest:
                    return self._replayed(commit)
                if commit.event_ids & ids:
                    raise EventIdConflict(commit.first_revision)
            newest = unseen[-1]
            item = self._commit_item(
                stream_type, stream_id, newest.last_revision + 1, sealed, digest, caller=caller, after=newest
            )
            winner = self._put_commit(item)
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
            unseen = [winner, *self._commits_after(stream_id, winner.last_revision)]

    def _commits_after(self, stream_id: str, revision: int) -> list[Commit]:
        """Every commit after `revision`, oldest first, consistently read."""
        commits: list[Commit] = []
        more = True
        while more:
            page, more = self._table.commits(
                stream_id, revision + 1, MAX_REVISION, newest_first=False, limit=ANY_RETRY_HORIZON
            )
            commits += page
            revision = page[-1].last_revision if page else revision
        return commits

    def recent_or_raise(self, stream_type: str, stream_id: str) -> list[Commit]:
        """The stream's newest commits, newest first: those a retried "any" append is recognised among."""
        commits, _ = self._table.commits(
            stream_id, 1, MAX_REVISION, newest_first=True, limit=ANY_RETRY_HORIZON
        )
        if not commits or commits[0].stream_type != stream_type:
            raise StreamNotFound(stream_type, stream_id)
        return commits

    def _resolve_collision(
        self,
        stream_type: str,
        stream_id: str,
        expected: ExpectedRevision,
        existing: Commit | None,
        digest: str,
        *,
        events: Sequence[NewEvent],
    ) -> AppendResult:
        if existing is not None and existing.stream_type == stream_type:
            if existing.digest == digest:
                return self._replayed(existing)
            if existing.event_ids & {e.event_id for e in events}:
                raise EventIdConflict(existing.first_revision)
        raise WrongExpectedRevision(
            expected, self._table.newest_or_raise(stream_type, stream_id).last_revision
        )

    def _commit_item(
        self,
        stream_type: str,
        stream_id: str,
        first_revision: int,
        sealed: tuple[Sequence[NewEvent], Sealing],
        digest: str,
        *,
        caller: Caller,
        after: Commit | None,
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

    def _put_commit(self, item: Item) -> Commit | None:
        """Write a commit unless its key exists; return the existing commit when it does."""
        started = time.monotonic()
        try:
            with dynamodb_errors():
                self._table.client.put_item(
                    TableName=self._table.name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#rev)",
                    ExpressionAttributeNames={"#rev": self._table.layout.range_key},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            # Emulators that do not return ALL_OLD: read the winner instead.
            old: Any = exc.response.get("Item") or self._table.get_item(
                item["streamId"]["S"], int(item["revision"]["N"])
            )
            if old is None or old.get("writeId") != item["writeId"]:
                return decode_commit(old) if old else None
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
