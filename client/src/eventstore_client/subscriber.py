"""Subscriber: a durable feed consumer. It catches up from a named checkpoint, then follows the feed's head,
calling a handler for each event in feed order and saving its position (compare-and-set) after each batch."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventstore_client.errors import CheckpointNotFound

if TYPE_CHECKING:
    from eventstore_client.client import EventStoreClient
    from eventstore_client.consumer import NotificationConsumer
    from eventstore_client.models import FeedEvent

logger = logging.getLogger("eventstore_client")

MAX_WAKE_WAIT_SECONDS = 20  # SQS long-poll ceiling


@dataclass(frozen=True, slots=True)
class Backoff:
    """Polling at the head: `initial` seconds after a page that had events, doubling while the feed stays
    quiet, up to `maximum`."""

    initial: float = 0.2
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"need 0 < initial <= maximum, got {self.initial} and {self.maximum}")


class Subscriber:
    """Reads a feed from the checkpoint `name` and calls `handler(event)` for each event, in feed order.

    After each page it handled, it stores the page's last position under `name` with compare-and-set
    (expecting the position it read), so a second instance of the same consumer makes it fail with
    CheckpointConflict rather than both claiming progress or moving the checkpoint backwards. If the
    handler raises, the position of the last event it finished is saved and the exception propagates:
    the next run starts with the event that failed (delivery is at least once, in order).

    `run()` returns after `stop()` (from another thread or a signal handler) or Ctrl-C, once the current
    event is handled and its batch saved. With `wake` (a NotificationConsumer on a queue subscribed to
    the notification topic), an idle subscriber waits on the queue instead of sleeping, so it reads new
    events as soon as they are notified; it polls anyway at the back-off's pace.
    """

    def __init__(
        self,
        client: EventStoreClient,
        name: str,
        handler: Callable[[FeedEvent], object],
        *,
        stream_type: str | None = None,
        event_types: Iterable[str] | None = None,
        member: int | None = None,
        size: int | None = None,
        page_size: int | None = None,
        backoff: Backoff | None = None,
        wake: NotificationConsumer | None = None,
    ) -> None:
        if (member is None) != (size is None):
            raise ValueError("give both member and size, or neither")
        self.client = client
        self.name = name
        self.handler = handler
        self.stream_type = stream_type
        self.event_types = frozenset(event_types) if event_types is not None else None
        self.member, self.size = member, size
        self.page_size = page_size
        self.backoff = backoff or Backoff()
        self.wake = wake
        self.position: str | None = None
        """The last position handled and saved (None: the feed's beginning)."""
        self.handled = 0
        self.caught_up = threading.Event()
        """Set once a read reached the head of the feed."""
        self._stored: str | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """End `run()` after the event being handled (safe from any thread or a signal handler)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self, *, until_caught_up: bool = False) -> None:
        """Catch up, then follow the head until stopped; with `until_caught_up`, return at the head (a
        batch job that brings a projection up to date and exits)."""
        self._load()
        delay = self.backoff.initial
        try:
            while not self._stop.is_set():
                if self.poll():
                    delay = self.backoff.initial
                    continue
                self.caught_up.set()
                if until_caught_up:
                    return
                self._idle(delay)
                delay = min(delay * 2, self.backoff.maximum)
        except KeyboardInterrupt:
            logger.info("subscriber %s interrupted at position %s", self.name, self.position)
        finally:
            if self.wake is not None:
                self.wake.stop()

    def poll(self) -> bool:
        """Read and handle one page after the current position; whether it held entries (or more wait)."""
        page = next(
            self.client.feed_pages(
                self.stream_type,
                after=self.position,
                event_types=self.event_types,
                member=self.member,
                size=self.size,
                page_size=self.page_size,
            )
        )
        handled_to = self.position
        try:
            for event in page.events:
                self.handler(event)
                handled_to = event.position
                self.handled += 1
                if self._stop.is_set():
                    break
            else:
                handled_to = page.last_position or handled_to
        finally:
            self._save(handled_to)
        return page.has_more or bool(page.events)

    def _load(self) -> None:
        try:
            checkpoint = self.client.get_checkpoint(self.name)
        except CheckpointNotFound:
            self.position = self._stored = None
            return
        self.position = self._stored = checkpoint.position

    def _save(self, position: str | None) -> None:
        if position is None or position == self._stored:
            return
        self.client.put_checkpoint(self.name, position, expected=self._stored)
        self.position = self._stored = position

    def _idle(self, seconds: float) -> None:
        if self.wake is None:
            self._stop.wait(seconds)
            return
        # Any notification means something new may be in the feed: drain what arrived, then read.
        wait = max(1, min(MAX_WAKE_WAIT_SECONDS, math.ceil(seconds)))
        for delivery in self.wake.receive(wait_time_seconds=wait):
            delivery.delete()
