"""Parse the store's SNS notifications as SQS or a Lambda SQS trigger delivers them.

Two shapes reach a queue: the SNS envelope (`{"Type": "Notification", "Message": "<json>",
"MessageAttributes": {name: {"Type", "Value"}}}`) and raw message delivery, where the body is the message
itself and the attributes are SQS message attributes (`DataType`/`StringValue`, or `dataType`/`stringValue`
in a Lambda event). The original service's message has only StreamId, StreamType and StreamRevision (a
string); it parses too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from eventstore_client.errors import InvalidNotification
from eventstore_client.models import Notification, NotificationEvent, parse_timestamp


def parse_body(body: str, message_attributes: Mapping[str, Any] | None = None) -> Notification:
    """Parse an SQS message body; `message_attributes` are the SQS ones (used with raw delivery)."""
    document = _load_object(body, "SQS message body")
    if document.get("Type") == "Notification" and "Message" in document:
        message = _load_object(document["Message"], "SNS Message")
        attributes = _attribute_values(document.get("MessageAttributes") or {})
        return _notification(message, attributes, str(document.get("MessageId") or "") or None)
    return _notification(document, _attribute_values(message_attributes or {}), None)


def parse_sqs_message(message: Mapping[str, Any]) -> Notification:
    """Parse one element of SQS ReceiveMessage's `Messages`."""
    return parse_body(str(message.get("Body", "")), message.get("MessageAttributes"))


def parse_lambda_record(record: Mapping[str, Any]) -> Notification:
    """Parse one record of a Lambda SQS event."""
    return parse_body(str(record.get("body", "")), record.get("messageAttributes"))


def parse_lambda_event(event: Mapping[str, Any]) -> list[Notification]:
    """All notifications of a Lambda SQS event, in delivery order."""
    return [parse_lambda_record(record) for record in event.get("Records") or ()]


def iter_lambda_event(event: Mapping[str, Any]) -> Iterator[tuple[str, Notification]]:
    """(messageId, notification) pairs, for handlers that report `batchItemFailures` per message."""
    for record in event.get("Records") or ():
        yield str(record.get("messageId", "")), parse_lambda_record(record)


def _load_object(text: Any, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError as exc:
        raise InvalidNotification(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidNotification(f"{what} is not a JSON object")
    return value


def _attribute_values(attributes: Mapping[str, Any]) -> dict[str, str]:
    """SNS envelope ({Type, Value}), SQS API ({DataType, StringValue}) or Lambda ({dataType, stringValue})."""
    values: dict[str, str] = {}
    for name, attribute in attributes.items():
        if isinstance(attribute, Mapping):
            value = attribute.get("Value", attribute.get("StringValue", attribute.get("stringValue")))
            if value is not None:
                values[name] = str(value)
    return values


def _notification(
    message: dict[str, Any], attributes: dict[str, str], message_id: str | None
) -> Notification:
    if message.get("type") == "StreamDeleted":
        return _deletion(message, message_id)
    try:
        stream_id = str(message.get("streamId") or message["StreamId"])
        stream_type = str(message.get("streamType") or message["StreamType"])
        to_revision = int(message.get("toRevision") or message["StreamRevision"])
        from_revision = int(message.get("fromRevision") or to_revision)
        events = tuple(
            NotificationEvent(
                revision=int(e["revision"]), event_id=str(e["eventId"]), event_type=str(e["eventType"])
            )
            for e in message.get("events") or ()
        )
        updated_at = parse_timestamp(str(message["updatedAt"])) if message.get("updatedAt") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidNotification(f"not an event store notification: {exc!r}") from exc
    return Notification(
        stream_id=stream_id,
        stream_type=stream_type,
        from_revision=from_revision,
        to_revision=to_revision,
        events=events,
        event_types=_event_types(attributes.get("EventTypes"), events),
        updated_at=updated_at,
        message_id=message_id,
    )


def _deletion(message: dict[str, Any], message_id: str | None) -> Notification:
    """A StreamDeleted notification: the stream was deleted at `lastRevision` (soft, or a tombstone)."""
    mode = message.get("mode")
    if mode not in {"soft", "tombstone"}:
        raise InvalidNotification(f"not an event store notification: deletion mode {mode!r}")
    try:
        last = int(message["lastRevision"])
        return Notification(
            stream_id=str(message["streamId"]),
            stream_type=str(message["streamType"]),
            from_revision=last,
            to_revision=last,
            updated_at=parse_timestamp(str(message["deletedAt"])),
            message_id=message_id,
            deleted=str(mode),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidNotification(f"not an event store notification: {exc!r}") from exc


def _event_types(attribute: str | None, events: tuple[NotificationEvent, ...]) -> tuple[str, ...]:
    if attribute:
        try:
            decoded = json.loads(attribute)  # String.Array travels as a JSON array in a string
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            return tuple(str(v) for v in decoded)
    return tuple(dict.fromkeys(e.event_type for e in events))
