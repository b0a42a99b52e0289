"""Reads: a stream's state and its events, a page at a time, from consistent Queries of its commits."""

from __future__ import annotations

from eventstore.domain import EventPage, StreamNotFound, StreamState
from eventstore.dynamodb.access import MAX_REVISION, Table
from eventstore.store import MAX_PAGE_EVENTS


def describe(table: Table, stream_type: str, stream_id: str) -> StreamState:
    return table.newest_or_raise(stream_type, stream_id).state()


def read(table: Table, stream_type: str, stream_id: str, after_revision: int, limit: int) -> EventPage:
    limit = min(limit, MAX_PAGE_EVENTS)
    # Commits holding the next `limit` revisions start at most `limit` revisions later; bounding the
    # key range keeps the Query (and its read units) to one page whatever the stream's length.
    first, last_wanted = after_revision + 1, after_revision + limit
    commits, more = table.commits(stream_id, first, last_wanted, newest_first=False, limit=limit)
    if not commits or commits[0].first_revision != first:
        # after_revision is inside a commit (a page cut by `limit`), past the end, or the stream is
        # unknown: the commit holding after_revision tells which.
        holding = (
            table.commits(stream_id, 1, after_revision, newest_first=True, limit=1)[0]
            if after_revision
            else []
        )
        if holding:
            commits = holding + commits
        else:
            # Nothing at or before after_revision: physical removal took the stream's oldest commits
            # (docs/design.md, "Physical removal and archive"), so the page begins at the first that
            # remains; none at all: no such stream.
            commits, more = table.commits(stream_id, first, MAX_REVISION, newest_first=False, limit=limit)
            if not commits:
                raise StreamNotFound(stream_type, stream_id)
    if commits[0].stream_type != stream_type:
        raise StreamNotFound(stream_type, stream_id)
    events = [e for c in commits for e in c.events if e.revision > after_revision]
    # A full page may be followed by more; a short one means the stream ends inside the key range
    # (commits cover revisions without gaps).
    more = more or len(events) >= limit
    events = events[:limit]
    last = events[-1].revision if events else after_revision
    return EventPage(tuple(events), has_more=more, last_evaluated_revision=last)
