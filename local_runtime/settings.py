"""What the local runtime is told to do: ports, IAM, persistence, names and the pump's mapping settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from local_runtime import REPO_ROOT


@dataclass(frozen=True, slots=True)
class PumpSettings:
    """The event source mapping between the table's stream and notify_stream (terraform mirrors these)."""

    batch_size: int = 100
    batching_window_seconds: float = 0.0
    maximum_retry_attempts: int = 10
    """-1: retry until the record is too old."""
    maximum_record_age_seconds: float = 3600
    """-1: no limit."""
    bisect_batch_on_function_error: bool = True
    report_batch_item_failures: bool = True
    """FunctionResponseTypes has ReportBatchItemFailures: a response's batchItemFailures are retried."""
    poll_interval_seconds: float = 0.1
    retry_backoff_seconds: float = 0.1


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    api_port: int = 8000
    """0 picks a free port (tests)."""
    emulator_port: int = 4566
    require_iam: bool = False
    console_writes: bool = False
    """The console at /console/ shows its forms to create, append to and delete streams."""
    data_dir: Path | None = None
    region: str = "us-east-1"
    access_key: str = "test"
    secret_key: str = "test"  # noqa: S105 - the emulator's well-known credentials, not a secret
    external_endpoint: str | None = None
    """An emulator that is already running (LocalStack): no moto is started."""
    name: str = "local-eventstore"
    """Prefix of the table, topic and queue names; Terraform's are `eventstore-<workspace>`, so `make apply
    WORKSPACE=local` on this emulator creates its own beside them."""
    repo_root: Path = REPO_ROOT
    pump: PumpSettings = field(default_factory=PumpSettings)
    from_terraform: bool = False
    """Serve the stack Terraform created in the emulator (local_runtime.deployed) instead of building one."""
    terraform_dir: Path = REPO_ROOT / "terraform"
    workspace: str = "local"
    build_dir: Path = REPO_ROOT / "build"
    """Where `make build` wrote the zips the deployed functions were created from."""
    removal_interval_seconds: float = 3600.0
    """How often remove_expired runs (Terraform's removal_schedule); 0: only when asked (tests)."""
    retention_defaults: str = ""
    """EVENTSTORE_RETENTION_DEFAULTS: JSON {"<streamType>": {"maxCount": N, "maxAgeSeconds": S}}."""
    archive: bool = True
    """Archive removed events to the emulator's S3 bucket `<name>-archive` first (archive_enabled)."""
    extra_environment: dict[str, str] = field(default_factory=dict)
    """More environment for the handlers (e.g. EVENTSTORE_LISTING_SETTLE_SECONDS)."""

    @property
    def table_name(self) -> str:
        return f"{self.name}-events"

    @property
    def keys_table_name(self) -> str:
        return f"{self.name}-data-subject-keys"

    @property
    def payload_bucket_name(self) -> str:
        return f"{self.name}-payloads"

    @property
    def topic_name(self) -> str:
        return f"{self.name}-notifications"

    @property
    def on_failure_queue_name(self) -> str:
        return f"{self.name}-notify-failures"

    @property
    def archive_bucket_name(self) -> str:
        return f"{self.name}-archive"

    @property
    def demo_queue_name(self) -> str:
        return f"{self.name}-notifications-demo"
