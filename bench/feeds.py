"""Feeds (issue 15) through the local API: SigV4-signed HTTP, the local API Gateway, the real handlers on
moto, the stream pump and notify_stream writing the feeds, exactly as `make run` serves them.

- Replay: a stream type of 10,000 events in 100 streams (commits of 10 events) read from the beginning
  through its feed, against today's only other way, listing its streams and reading each; the two
  alternate in rounds on the same runtime, medians compared (bar: the feed at least 3x faster).
- Lag: an append accepted (its 201 received) until its event is readable in the type's feed, polled every
  5 ms, p50 and p99 (bar: p99 within 2 s).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Final
from urllib.parse import quote

from bench.payloads import realistic_payload
from bench.report import Report, Row

REPLAY_TYPE: Final = "replay"
LAG_TYPE: Final = "lag"
REPLAY_STREAMS: Final = 100
REPLAY_EVENTS: Final = 10_000
COMMIT_EVENTS: Final = 10
PAGE: Final = 1000
REPLAY_TARGET: Final = 3.0
LAG_TARGET_SECONDS: Final = 2.0
LAG_POLL_SECONDS: Final = 0.005


def _check(response: Any, status: int) -> Any:
    if response.status != status:
        raise RuntimeError(f"expected {status}, got {response.status}: {response.body[:500]!r}")
    return response.json()


def _events(start: int, count: int) -> list[dict[str, Any]]:
    return [{"eventType": "OrderUpdated", "payload": realistic_payload(start + i)} for i in range(count)]


def load_type(
    http: Any,
    stream_type: str = REPLAY_TYPE,
    *,
    streams: int = REPLAY_STREAMS,
    events: int = REPLAY_EVENTS,
    commit_events: int = COMMIT_EVENTS,
) -> list[str]:
    """`events` events in `streams` streams of the type, appended round-robin in commits of
    `commit_events`, so the feed interleaves the streams as real traffic would."""
    per_stream = events // streams
    ids = [
        _check(
            http.request(
                "POST", f"/streams/{stream_type}", {"events": _events(s * per_stream, commit_events)}
            ),
            201,
        )["stream"]["streamId"]
        for s in range(streams)
    ]
    for revision in range(commit_events, per_stream, commit_events):
        for s, stream_id in enumerate(ids):
            body = {"expectedRevision": revision, "events": _events(s * per_stream + revision, commit_events)}
            _check(http.request("POST", f"/streams/{stream_type}/{stream_id}/events", body), 201)
    return ids


def feed_pages(http: Any, stream_type: str | None, after: str | None = None) -> Any:
    """Each page of the feed (a type's, or all types' for None) after `after`, to its head."""
    base = "/feed" if stream_type is None else f"/streams/{stream_type}/feed"
    while True:
        query = f"?limit={PAGE}" + (f"&after-position={quote(after)}" if after else "")
        page = _check(http.request("GET", base + query), 200)["feedPage"]
        yield page
        after = page.get("lastPosition", after)
        if not page["hasMore"]:
            return


def wait_until_fed(http: Any, stream_type: str, events: int, timeout: float = 300.0) -> float:
    """Seconds until the type's feed holds `events` events (the pump and notify_stream catch up)."""
    started = time.perf_counter()
    seen, after = 0, None
    while True:
        for page in feed_pages(http, stream_type, after):
            seen += len(page["events"])
            after = page.get("lastPosition", after)
        if seen >= events:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the {stream_type} feed holds {seen} of {events} events after {timeout} s")
        time.sleep(0.1)


def replay_feed(http: Any, stream_type: str = REPLAY_TYPE) -> int:
    """Every event of the type through its feed; checks each stream's revisions are in order, gapless."""
    last: dict[str, int] = {}
    count = 0
    for page in feed_pages(http, stream_type):
        for event in page["events"]:
            if event["revision"] != last.get(event["streamId"], 0) + 1:
                raise RuntimeError(f"feed out of order at {event['position']}")
            last[event["streamId"]] = event["revision"]
            count += 1
    return count


def replay_by_listing(http: Any, stream_type: str = REPLAY_TYPE) -> int:
    """Today's way: list the type's streams, then read each stream's events, page by page."""
    ids: list[str] = []
    key = None
    while True:
        query = f"?limit={PAGE}" + (f"&stream-next-page-key={quote(key)}" if key else "")
        page = _check(http.request("GET", f"/streams/{stream_type}{query}"), 200)["streamPage"]
        ids += [stream["streamId"] for stream in page["streams"]]
        key = page.get("nextPageKey")
        if not page["hasMore"] or not key:
            break
    count = 0
    for stream_id in dict.fromkeys(ids):  # a stream updated while listed shows twice: read it once
        after = 0
        while True:
            path = f"/streams/{stream_type}/{stream_id}/events?after-revision={after}&limit={PAGE}"
            events = _check(http.request("GET", path), 200)["eventPage"]
            count += len(events["events"])
            after = events["lastEvaluatedRevision"]
            if not events["hasMore"]:
                break
    return count


def feed_lag(http: Any, samples: int, stream_type: str = LAG_TYPE) -> list[float]:
    """Seconds from each append's 201 until its event is in the type's feed, one append at a time."""
    created = _check(http.request("POST", f"/streams/{stream_type}", {"events": _events(0, 1)}), 201)
    stream_id = created["stream"]["streamId"]
    wait_until_fed(http, stream_type, 1)
    head = None
    for page in feed_pages(http, stream_type):
        head = page.get("lastPosition", head)
    lags = []
    for revision in range(1, samples + 1):
        body = {"expectedRevision": revision, "events": _events(revision, 1)}
        _check(http.request("POST", f"/streams/{stream_type}/{stream_id}/events", body), 201)
        accepted = time.perf_counter()
        while True:
            page = _check(
                http.request("GET", f"/streams/{stream_type}/feed?after-position={quote(str(head))}"), 200
            )["feedPage"]
            if page["events"]:
                lags.append(time.perf_counter() - accepted)
                head = page["events"][-1]["position"]
                break
            if time.perf_counter() - accepted > 60:
                raise RuntimeError(f"revision {revision + 1} not in the feed after 60 s")
            time.sleep(LAG_POLL_SECONDS)
    return lags


def _median_seconds(http: Any, path: str, samples: int = 15) -> float:
    timings = []
    for _ in range(samples):
        began = time.perf_counter()
        _check(http.request("GET", path), 200)
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def call_costs(http: Any, stream_id: str, stream_type: str = REPLAY_TYPE) -> dict[str, float]:
    """What one API call costs through the local API apart from its events (a 1-event page), and what each
    event adds (a whole 100-event stream read, a 1,000-event feed page), for reads and for the feed."""
    read = f"/streams/{stream_type}/{stream_id}/events"
    feed = f"/streams/{stream_type}/feed"
    read_call = _median_seconds(http, f"{read}?limit=1")
    feed_call = _median_seconds(http, f"{feed}?limit=1")
    per_stream = REPLAY_EVENTS // REPLAY_STREAMS
    read_event = (_median_seconds(http, f"{read}?limit={per_stream}") - read_call) / (per_stream - 1)
    feed_event = (_median_seconds(http, f"{feed}?limit={PAGE}", 7) - feed_call) / (PAGE - 1)
    return {
        "read_call": read_call,
        "feed_call": feed_call,
        "read_event": read_event,
        "feed_event": feed_event,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(report: Report, *, rounds: int = 3, lag_samples: int = 200) -> dict[str, float] | None:
    section = "8 feeds"
    try:
        from local_runtime.testing import launch  # noqa: PLC0415 - the runtime is optional for the bench
    except ImportError as exc:
        report.add(Row(section, "replay through the feed vs list + read", None, note=f"pending: {exc}"))
        return None
    with launch(require_iam=True) as store:
        http = store.client()
        started = time.perf_counter()
        stream_ids = load_type(http)
        loaded = time.perf_counter() - started
        fed = wait_until_fed(http, REPLAY_TYPE, REPLAY_EVENTS)
        by_feed: list[float] = []
        by_listing: list[float] = []
        for round_ in range(rounds):
            # Alternate which goes first, so neither always runs on a warmer (or busier) machine.
            order = (("feed", replay_feed), ("listing", replay_by_listing))
            for name, replay in order if round_ % 2 == 0 else order[::-1]:
                began = time.perf_counter()
                count = replay(http)
                (by_feed if name == "feed" else by_listing).append(time.perf_counter() - began)
                if count != REPLAY_EVENTS:
                    raise RuntimeError(f"{name} replay read {count} events, expected {REPLAY_EVENTS}")
        costs = call_costs(http, stream_ids[0])
        lags = feed_lag(http, lag_samples)
    feed_seconds, listing_seconds = statistics.median(by_feed), statistics.median(by_listing)
    speedup = listing_seconds / feed_seconds
    # The most a feed could gain here: its pages' call costs, and each event costing what a read's does.
    pages = math.ceil(REPLAY_EVENTS / PAGE)
    ceiling = listing_seconds / (pages * costs["feed_call"] + REPLAY_EVENTS * costs["read_event"])
    how = (
        f"{REPLAY_STREAMS} streams, commits of {COMMIT_EVENTS}, pages of {PAGE}, {rounds} alternating rounds"
    )
    report.add(
        Row(section, "replay 10,000 events via the type's feed", feed_seconds, "s", note=f"{how}; medians")
    )
    report.add(
        Row(
            section,
            "replay 10,000 events via list + read each stream",
            listing_seconds,
            "s",
            note=f"loaded in {loaded:.0f} s; the feed caught up {fed:.1f} s after the last append",
        )
    )
    report.add(
        Row(
            section,
            "replay speed-up, feed vs list + read",
            speedup,
            "x",
            f">= {REPLAY_TARGET:g}",
            speedup >= REPLAY_TARGET,
        )
    )
    report.add(
        Row(
            section,
            "API call through the local API, 1-event page: read / feed",
            costs["read_call"] * 1000,
            "ms",
            note=f"read {costs['read_call'] * 1000:.1f} ms, feed {costs['feed_call'] * 1000:.1f} ms; medians",
        )
    )
    report.add(
        Row(
            section,
            "each further event: read / feed",
            costs["read_event"] * 1e6,
            "us",
            note=(
                f"read {costs['read_event'] * 1e6:.0f} us, feed {costs['feed_event'] * 1e6:.0f} us: both "
                "read the same commit items, so the feed saves calls, not work per event"
            ),
        )
    )
    report.add(
        Row(
            section,
            "replay speed-up a feed could reach here (its calls, a read's cost per event)",
            ceiling,
            "x",
            note="listing time / (feed pages x feed call + events x read cost per event)",
        )
    )
    p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
    lag_note = f"{len(lags)} single-event appends; 201 received -> in the feed, polled every 5 ms"
    report.add(Row(section, "feed lag p50", p50 * 1000, "ms", note=lag_note))
    report.add(
        Row(
            section,
            "feed lag p99",
            p99 * 1000,
            "ms",
            f"<= {LAG_TARGET_SECONDS * 1000:g}",
            p99 <= LAG_TARGET_SECONDS,
        )
    )
    return {
        "feed_seconds": feed_seconds,
        "listing_seconds": listing_seconds,
        "speedup": speedup,
        "speedup_ceiling": ceiling,
        **{f"cost_{name}": value for name, value in costs.items()},
        "lag_p50": p50,
        "lag_p99": p99,
    }
