"""Listing markers: a fresh listing entry for a stream whose commit landed late (docs/design.md, "Listing").

A commit is stamped just before its PutItem; one that landed more than half the settle window later may
have become visible after a listing cursor passed its stamp. Its stream gets a marker item (revision -1,
one per stream) stamped now, so the next listings show it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Final

from botocore.exceptions import ClientError

from eventstore import timefmt
from eventstore.commits import Commit, Item
from eventstore.domain import ServiceUnavailable
from eventstore.dynamodb.access import Settling, Table, condition_failed, dynamodb_errors
from eventstore.table import LISTING_MARKER_REVISION, TableLayout

MARKER_ATTEMPTS: Final = 3
"""Listing-marker writes per mark: a marker write that is itself slow is stamped again."""
REPLAY_MARK_HORIZON_SECONDS: Final = 300
"""A replay of a commit at most this old marks it for listing if it is older than the late-write limit."""

log = logging.getLogger(__name__)


def listing_entry(layout: TableLayout, stream_type: str, stream_id: str, revision: int, at: datetime) -> Item:
    """The attributes that put an item in the listing index: its shard and its unique position."""
    digest = hashlib.sha256(stream_id.encode()).digest()
    shard = int.from_bytes(digest[:4], "big") % layout.listing_shards
    return {
        layout.listing_hash_key: {"S": f"{stream_type}#{shard}"},
        # Time first (fixed width), then the item's key: ordered by time, unique, so pages never tie.
        layout.listing_range_key: {"S": f"{timefmt.format_instant(at)}|{stream_id}|{revision}"},
    }


class ListingMarkers:
    """Writes listing markers for commits that landed late."""

    def __init__(self, table: Table, settling: Settling) -> None:
        self._table = table
        self._settling = settling

    def mark_if_slow(self, commit: Commit, started: float) -> None:
        """Mark a commit whose PutItem (started at monotonic time `started`) took longer than half the
        settle window. The commit is durable, so a failure to mark it is logged, not raised (notify_stream
        marks such commits too)."""
        late_write = self._settling.late_write
        if late_write is not None and time.monotonic() - started > late_write:
            self._mark_quietly(commit)

    def mark_replayed(self, commit: Commit) -> None:
        """A retry of an append that was written: when the first attempt ended in an error after all (a 503
        though written), its commit may have landed late and unmarked; mark it while such a retry is
        plausible (a retry days later must not relist the stream)."""
        late_write = self._settling.late_write
        if late_write is not None:
            age = (self._settling.clock() - timefmt.parse(commit.committed_at)).total_seconds()
            if late_write < age <= REPLAY_MARK_HORIZON_SECONDS:
                self._mark_quietly(commit)

    def mark_if_late(self, commit: Commit, written_at: datetime) -> bool:
        """Mark the commit's stream for listing if it was written (became visible) more than half the
        settle window after its stamp; notify_stream asks this with the record's creation time."""
        late_write = self._settling.late_write
        if late_write is None:
            return False
        delay = (written_at - timefmt.parse(commit.committed_at)).total_seconds()
        return delay > late_write and self.mark_for_listing(commit)

    def mark_for_listing(self, commit: Commit) -> bool:
        """Give the commit's stream a fresh listing entry, as updated now to the commit's last revision.

        The marker item moves forward only: to a later revision, or to a later (or equal) stamp at the same
        one. A marker write that is itself slow is stamped again. Returns whether a marker was written
        (False: a newer one was there).
        """
        table, late_write = self._table, self._settling.late_write
        stamp_floor = timefmt.parse(commit.committed_at) + timedelta(microseconds=1)
        for _ in range(MARKER_ATTEMPTS):
            started = time.monotonic()
            stamp = max(self._settling.clock(), stamp_floor)
            try:
                with dynamodb_errors():
                    table.client.put_item(
                        TableName=table.name,
                        Item={
                            **table.key(commit.stream_id, LISTING_MARKER_REVISION),
                            "streamType": {"S": commit.stream_type},
                            "lastRevision": {"N": str(commit.last_revision)},
                            "committedAt": {"S": timefmt.format_instant(stamp)},
                            **listing_entry(
                                table.layout,
                                commit.stream_type,
                                commit.stream_id,
                                LISTING_MARKER_REVISION,
                                stamp,
                            ),
                        },
                        ConditionExpression=(
                            "attribute_not_exists(lastRevision) OR lastRevision < :last"
                            # <=: the SDK's retry of this very write (its answer lost) succeeds too.
                            " OR (lastRevision = :last AND committedAt <= :stamp)"
                        ),
                        ExpressionAttributeValues={
                            ":last": {"N": str(commit.last_revision)},
                            ":stamp": {"S": timefmt.format_instant(stamp)},
                        },
                    )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                return False
            if late_write is None or time.monotonic() - started <= late_write:
                return True
            stamp_floor = stamp + timedelta(microseconds=1)
        return True

    def _mark_quietly(self, commit: Commit) -> None:
        try:
            self.mark_for_listing(commit)
        except (ServiceUnavailable, ClientError):
            log.warning("could not mark a late commit for listing", exc_info=True)
