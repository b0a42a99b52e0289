"""NotificationConsumer: long-poll an SQS queue subscribed to the topic; delete only what was processed."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import botocore.session

from eventstore_client.errors import InvalidNotification
from eventstore_client.models import Notification
from eventstore_client.notifications import parse_sqs_message

logger = logging.getLogger("eventstore_client")

MAX_MESSAGES = 10  # SQS ReceiveMessage's ceiling
MAX_WAIT_SECONDS = 20  # SQS long-poll ceiling
_AWS_HOST = re.compile(r"(^|\.)amazonaws\.com(\.cn)?$|(^|\.)api\.aws$")


def make_sqs_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    *,
    queue_url: str | None = None,
    session: botocore.session.Session | None = None,
) -> Any:
    """An SQS client. botocore itself honours AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL (emulators);
    with LOCALSTACK_HOST set and localstack-client installed, LocalStack's endpoint is used. Otherwise a
    `queue_url` outside AWS (an emulator's queue) is reached at its own scheme, host and port."""
    if endpoint_url is None and not _endpoint_from_env():
        if os.environ.get("LOCALSTACK_HOST"):
            try:
                from localstack_client.session import Session  # noqa: PLC0415 - optional dependency
            except ImportError:
                pass
            else:
                return Session(region_name=region or "us-east-1").client("sqs")
        endpoint_url = _emulator_origin(queue_url)
    session = session or botocore.session.get_session()
    return session.create_client("sqs", region_name=region, endpoint_url=endpoint_url)


def _endpoint_from_env() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL"))


def _emulator_origin(queue_url: str | None) -> str | None:
    """scheme://host:port of a queue URL that is not AWS's; None for AWS's own, whose endpoint botocore
    derives from the region."""
    if not queue_url:
        return None
    parts = urlsplit(queue_url)
    host = parts.hostname or ""
    if not parts.scheme or not host or _AWS_HOST.search(host):
        return None
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received notification. Use it as a context manager: the message is deleted when the block
    finishes without an exception, and otherwise left to reappear after its visibility timeout."""

    notification: Notification
    receipt_handle: str
    queue_url: str
    sqs: Any
    message_id: str = ""

    def delete(self) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=self.receipt_handle)

    def __enter__(self) -> Notification:
        return self.notification

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.delete()


class NotificationConsumer:
    """Iterate to long-poll forever (or call `receive` for one poll); each item is a `Delivery`:

    for delivery in NotificationConsumer(queue_url):
        with delivery as notification:
            handle(notification)   # deleted only if this returns normally
    """

    def __init__(
        self,
        queue_url: str,
        sqs_client: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: botocore.session.Session | None = None,
        wait_time_seconds: int = MAX_WAIT_SECONDS,
        max_messages: int = MAX_MESSAGES,
        visibility_timeout: int | None = None,
    ) -> None:
        self.queue_url = queue_url
        self._sqs = sqs_client or make_sqs_client(
            region or _region_from_queue_url(queue_url), endpoint_url, queue_url=queue_url, session=session
        )
        self._wait = max(0, min(wait_time_seconds, MAX_WAIT_SECONDS))
        self._max = max(1, min(max_messages, MAX_MESSAGES))
        self._visibility = visibility_timeout
        self._stop = threading.Event()  # stop() may come from another thread or a signal handler

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """End iteration after the current poll."""
        self._stop.set()

    def __iter__(self) -> Iterator[Delivery]:
        while not self._stop.is_set():
            for delivery in self.receive():
                if self._stop.is_set():
                    return  # the rest of the batch reappears after its visibility timeout
                yield delivery

    def receive(self, wait_time_seconds: int | None = None) -> list[Delivery]:
        """One long poll; unparseable messages are skipped and left to the queue's redrive policy."""
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self._max,
            "WaitTimeSeconds": self._wait if wait_time_seconds is None else wait_time_seconds,
            "MessageAttributeNames": ["All"],
        }
        if self._visibility is not None:
            request["VisibilityTimeout"] = self._visibility
        deliveries = []
        for message in self._sqs.receive_message(**request).get("Messages", []):
            try:
                notification = parse_sqs_message(message)
            except InvalidNotification:
                logger.warning("skipping SQS message %s: not a notification", message.get("MessageId"))
                continue
            deliveries.append(
                Delivery(
                    notification,
                    message["ReceiptHandle"],
                    self.queue_url,
                    self._sqs,
                    message.get("MessageId", ""),
                )
            )
        return deliveries


def _region_from_queue_url(queue_url: str) -> str | None:
    # https://sqs.<region>.amazonaws.com/<account>/<name>; emulator URLs carry no region.
    host = queue_url.split("/")[2] if "://" in queue_url else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "sqs" else None  # noqa: PLR2004
