"""Reads: a stream's state and its visible events, a page at a time, from consistent Queries of its items.

What a page may show is decided by the stream's control item (revision -2: deletion floor, tombstone,
metadata) and its type's retention defaults (docs/design.md, "Lifecycle"). A read from the beginning gets
the control item in the same Query as the first commits; a read after a revision reads it first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from eventstore.commits import Commit
from eventstore.domain import EventPage, RecordedEvent, StreamDeleted, StreamNotFound, StreamState
from eventstore.dynamodb.access import MAX_REVISION, Table, decode_head, live
from eventstore.lifecycle import (
    LifecycleMarker,
    Retention,
    StreamControl,
    decode_control,
    needs_last_revision,
    visibility,
)
from eventstore.store import MAX_PAGE_EVENTS
from eventstore.table import CONTROL_REVISION

MAX_EXPIRED_QUERIES: Final = 8
"""Queries one page makes past events hidden by a max age before it answers an empty page with hasMore."""
_RESERVED_ITEMS: Final = 3
"""Items keyed below the commits (control item, listing marker, summary) a read from the start may meet."""


def describe(table: Table, stream_type: str, stream_id: str) -> StreamState:
    return table.newest_or_raise(stream_type, stream_id).state()


def read(
    table: Table,
    stream_type: str,
    stream_id: str,
    after_revision: int,
    limit: int,
    *,
    default: Retention | None = None,
    now: datetime,
) -> EventPage:
    limit = min(limit, MAX_PAGE_EVENTS)
    prefetched: tuple[list[Commit | LifecycleMarker], bool] | None = None
    if after_revision == 0 and (default is None or default.max_count is None):
        # From the beginning: the control item comes back with the first commits, in the same Query (a
        # type's default max count would make them useless: the read starts near the head).
        response = table.raw_items(
            stream_id, CONTROL_REVISION, limit, newest_first=False, limit=limit + _RESERVED_ITEMS
        )
        items = response.get("Items", [])
        control = decode_control(
            next((i for i in items if int(i["revision"]["N"]) == CONTROL_REVISION), None)
        )
        heads = [decode_head(i) for i in items if int(i["revision"]["N"]) >= 1]
        prefetched = heads, "LastEvaluatedKey" in response
    else:
        control = decode_control(table.get_item(stream_id, CONTROL_REVISION))
    _check_control(control, stream_type, stream_id)
    last = None
    if needs_last_revision(control, default):
        last = table.newest_or_raise(stream_type, stream_id).last_revision
    shown = visibility(control, default, now, last)
    start = max(after_revision + 1, shown.floor)
    for _ in range(MAX_EXPIRED_QUERIES):
        if prefetched is not None and start == 1:
            heads, more = prefetched
        else:
            heads, more = table.heads(stream_id, start, start + limit - 1, newest_first=False, limit=limit)
        prefetched = None
        events, more = _events_from(table, (stream_type, stream_id), start, limit, (heads, more))
        visible = [e for e in events if shown.visible(e)]
        last_read = events[-1].revision if events else start - 1
        if visible or not more:
            # Expired events come first (commit times grow with revisions): the page starts at the first
            # one left, or where the read started.
            first = visible[0].revision if visible else start
            return EventPage(
                tuple(visible),
                has_more=more,
                last_evaluated_revision=max(last_read, after_revision),
                first_revision=first,
            )
        start = last_read + 1
    return EventPage((), has_more=True, last_evaluated_revision=start - 1, first_revision=start)


def _check_control(control: StreamControl, stream_type: str, stream_id: str) -> None:
    if control.stream_type is not None and control.stream_type != stream_type:
        raise StreamNotFound(stream_type, stream_id)
    if control.tombstoned:
        raise StreamDeleted(stream_type, stream_id)


def _events_from(
    table: Table,
    stream: tuple[str, str],
    start: int,
    limit: int,
    found: tuple[list[Commit | LifecycleMarker], bool],
) -> tuple[list[RecordedEvent], bool]:
    """Up to `limit` events from revision `start` (the commits read for [start, start + limit - 1]), and
    whether more may follow."""
    stream_type, stream_id = stream
    heads, more = found
    if heads and isinstance(heads[-1], LifecycleMarker):
        live(heads[-1])  # the stream is deleted now (its control item may not say so yet)
    commits = [h for h in heads if isinstance(h, Commit)]
    if not commits or commits[0].first_revision != start:
        # `start` is inside a commit (a page cut by `limit`), past the end, or the stream is unknown: the
        # item holding start tells which.
        holding = table.heads(stream_id, 1, start - 1, newest_first=True, limit=1)[0] if start > 1 else []
        if holding:
            commits = [live(holding[0]), *commits]
        elif not commits:
            # Nothing below `start` nor in the key range: physical removal took the stream's oldest
            # commits (docs/design.md, "Physical removal and archive"), so the page begins at the first
            # that remains; none at all: an unknown stream, or a read past the end (its head says which,
            # and whether it is deleted).
            heads, more = table.heads(stream_id, start, MAX_REVISION, newest_first=False, limit=limit)
            if heads and isinstance(heads[-1], LifecycleMarker):
                live(heads[-1])
            commits = [h for h in heads if isinstance(h, Commit)]
            if not commits:
                if start == 1:
                    raise StreamNotFound(stream_type, stream_id)
                live(table.head(stream_type, stream_id))
    if commits and commits[0].stream_type != stream_type:
        raise StreamNotFound(stream_type, stream_id)
    events = [e for c in commits for e in c.events if e.revision >= start]
    # A full page may be followed by more; a short one means the stream ends inside the key range
    # (commits cover revisions without gaps).
    more = more or len(events) >= limit
    return events[:limit], more
