"""Python client for the serverless event store: SigV4-signed, paginating, retrying idempotently."""

from eventstore_client._transport import RetryPolicy
from eventstore_client.client import EventStoreClient
from eventstore_client.consumer import Delivery, NotificationConsumer, make_sqs_client
from eventstore_client.errors import (
    EventIdConflict,
    EventStoreError,
    HTTPError,
    InternalError,
    InvalidImportData,
    InvalidNotification,
    InvalidParam,
    InvalidRequest,
    MissingRegion,
    PayloadTooLarge,
    ServiceUnavailable,
    StreamAlreadyExists,
    StreamNotFound,
    TransportError,
    WrongExpectedRevision,
)
from eventstore_client.models import (
    AppendResult,
    ExpectedRevision,
    NewEvent,
    Notification,
    NotificationEvent,
    RecordedEvent,
    Stream,
)
from eventstore_client.notifications import (
    parse_body,
    parse_lambda_event,
    parse_lambda_record,
    parse_sqs_message,
)

__all__ = [
    "AppendResult",
    "Delivery",
    "EventIdConflict",
    "EventStoreClient",
    "EventStoreError",
    "ExpectedRevision",
    "HTTPError",
    "InternalError",
    "InvalidImportData",
    "InvalidNotification",
    "InvalidParam",
    "InvalidRequest",
    "MissingRegion",
    "NewEvent",
    "Notification",
    "NotificationConsumer",
    "NotificationEvent",
    "PayloadTooLarge",
    "RecordedEvent",
    "RetryPolicy",
    "ServiceUnavailable",
    "Stream",
    "StreamAlreadyExists",
    "StreamNotFound",
    "TransportError",
    "WrongExpectedRevision",
    "make_sqs_client",
    "parse_body",
    "parse_lambda_event",
    "parse_lambda_record",
    "parse_sqs_message",
]
