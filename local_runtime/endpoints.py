"""Where a local store is: what `make run` prints, the ready file holds and tests connect to."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class StoreEndpoints:
    api_url: str
    aws_endpoint_url: str
    region: str
    table_name: str
    stream_arn: str
    topic_arn: str
    on_failure_queue_url: str
    demo_queue_url: str
    """Subscribed to the topic (raw delivery), so notifications can be seen without any set-up."""
    access_key: str
    secret_key: str

    def describe(self) -> dict[str, str]:
        """The endpoints alone, as JSON-ready strings (the --ready-file's content)."""
        return {f.name: getattr(self, f.name) for f in fields(StoreEndpoints)}
