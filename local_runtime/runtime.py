"""Starts and stops the whole local event store: emulator, resources, Lambda functions, pump and API."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from local_runtime.aws import (
    Clients,
    ensure_bucket,
    ensure_keys_table,
    ensure_payload_bucket,
    ensure_queue,
    ensure_table,
    ensure_topic,
    stream_arn,
    subscribe_queue,
)
from local_runtime.console import ConsolePages
from local_runtime.containers import IsolatedFunction, Unpacker
from local_runtime.data_keys import ensure_data_key
from local_runtime.deployed import Workspace, read_stack, routes_summary
from local_runtime.docs import ApiDocs
from local_runtime.emulator import Emulator, saved_objects
from local_runtime.endpoints import StoreEndpoints
from local_runtime.gateway_server import ApiGateway, ApiServer
from local_runtime.lambdas import FunctionNotFoundError, LambdaFunction
from local_runtime.persistence import DataDir, DurableTable
from local_runtime.proxy_events import load_routes
from local_runtime.pump import StreamPump
from local_runtime.schedule import RemovalSchedule

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from typing import Any

    from local_runtime.proxy_events import Route
    from local_runtime.settings import Settings

log = logging.getLogger(__name__)

NOTIFY_FUNCTION = "notify_stream"
REMOVAL_FUNCTION = "remove_expired"
_SNAPSHOT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RunningStore(StoreEndpoints):
    """Where a running local store is; `stop()` shuts it down (snapshotting to --data-dir first)."""

    _stop: Callable[[], None] = field(repr=False, compare=False)
    _removal: RemovalSchedule | None = field(default=None, repr=False, compare=False)
    archive_bucket: str | None = None
    """The emulator's archive bucket (None: archive off, or --from-terraform)."""

    def stop(self) -> None:
        self._stop()

    def run_removal(self, now: datetime | None = None) -> dict[str, Any]:
        """One remove_expired run at `now` (tests move the clock this way); its report."""
        if self._removal is None:
            raise RuntimeError("this store runs no removal function (--from-terraform)")
        report: dict[str, Any] = self._removal.run_once(now)
        return report


def start(settings: Settings) -> RunningStore:
    """Start everything and return once the API answers. Sets the handlers' environment in os.environ."""
    emulator = None
    if settings.external_endpoint:
        endpoint = settings.external_endpoint
        log.info("using the emulator at %s (AWS_ENDPOINT_URL)", endpoint)
    else:
        emulator = Emulator(settings.host, settings.emulator_port)
        emulator.start()
        endpoint = emulator.url
    try:
        return _start_on(settings, endpoint, emulator)
    except BaseException:
        if emulator is not None:
            emulator.stop()
        raise


def _start_on(settings: Settings, endpoint: str, emulator: Emulator | None) -> RunningStore:
    if settings.from_terraform:
        return _serve_terraform_stack(settings, endpoint, emulator)
    clients = Clients.connect(endpoint, settings.region, settings.access_key, settings.secret_key)
    data_dir = DataDir(settings.data_dir) if settings.data_dir else None
    created = ensure_table(clients, settings.table_name)
    ensure_keys_table(clients, settings.keys_table_name)
    ensure_payload_bucket(clients, settings.payload_bucket_name)
    if data_dir is not None and emulator is not None:
        # Back into the emulator first, then kept from here on (docs/design.md, "Large payloads").
        for bucket, key, content in saved_objects(data_dir.objects):
            clients.s3.put_object(Bucket=bucket, Key=key, Body=content)
        emulator.objects.keep_in(data_dir.objects)
    data_key_id = ensure_data_key(
        clients.kms, settings.region, settings.data_dir, in_process=emulator is not None
    )
    durable, restored = _restore(settings, clients, data_dir, emulator, created=created)
    table_stream = stream_arn(clients, settings.table_name)
    topic_arn = ensure_topic(clients, settings.topic_name)
    queue_url = ensure_queue(clients, settings.on_failure_queue_name)
    demo_queue_url = ensure_queue(clients, settings.demo_queue_name)
    subscribe_queue(clients, topic_arn, demo_queue_url)
    if settings.archive:
        ensure_bucket(clients, settings.archive_bucket_name)
    _set_handler_environment(settings, endpoint, topic_arn, data_dir, data_key_id)

    routes = load_routes(settings.repo_root / "shared" / "eventstore" / "routes.json")
    functions = _functions(settings, routes)
    pump = _start_pump(
        settings,
        clients,
        function=functions[NOTIFY_FUNCTION],
        table_stream=table_stream,
        queue_url=queue_url,
        data_dir=data_dir,
        skip_existing_records=restored,
    )
    gateway = ApiGateway(
        routes,
        functions,
        credentials={settings.access_key: settings.secret_key},
        region=settings.region,
        require_iam=settings.require_iam,
        docs=ApiDocs(settings.repo_root / "openapi.yaml"),
        console=ConsolePages(allow_writes=settings.console_writes),
    )
    api = ApiServer(settings.host, settings.api_port, gateway)
    api.start()
    removal = RemovalSchedule(
        functions[REMOVAL_FUNCTION],
        settings.removal_interval_seconds,
        settings.region,
        rule_arn=f"arn:aws:events:{settings.region}:123456789012:rule/{settings.name}-removal",
    )
    removal.start()
    # The built-in emulator journals every write; an external one only gets periodic snapshots.
    snapshots = _Snapshots(
        data_dir if durable is None else None, clients, settings.table_name, table_stream, pump
    )
    snapshots.start()

    def stop() -> None:
        api.stop()
        removal.stop()
        if pump is not None:
            pump.stop()
        snapshots.stop()
        if durable is not None and emulator is not None:
            with emulator.dynamodb.exclusive() as dynamodb:
                count = durable.checkpoint(dynamodb, settled=pump is None or pump.caught_up)
            log.info("saved %d items to the data dir", count)
        if emulator is not None:
            emulator.stop()
        log.info("stopped")

    return RunningStore(
        api_url=api.url,
        aws_endpoint_url=endpoint,
        region=settings.region,
        table_name=settings.table_name,
        stream_arn=table_stream,
        topic_arn=topic_arn,
        on_failure_queue_url=queue_url,
        demo_queue_url=demo_queue_url,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        _stop=stop,
        _removal=removal,
        archive_bucket=settings.archive_bucket_name if settings.archive else None,
    )


def _restore(
    settings: Settings,
    clients: Clients,
    data_dir: DataDir | None,
    emulator: Emulator | None,
    *,
    created: bool,
) -> tuple[DurableTable | None, bool]:
    """The data dir's items back into the table: the journaling table (built-in emulator) or the periodic
    snapshot (an external one); and whether the pump must skip the restored stream records."""
    durable = None
    restored = False
    if data_dir is not None and emulator is not None:
        durable = DurableTable(
            data_dir,
            settings.table_name,
            region=settings.region,
            access_key=settings.access_key,
            keys_table=settings.keys_table_name,
        )
        with emulator.dynamodb.exclusive() as dynamodb:
            recovery = durable.recover(dynamodb)
        # Unsettled (after a crash): the pump reads the restored stream from its start; see persistence.
        restored = recovery.settled
        log.info(
            "restored %d items and replayed %d journaled writes from %s",
            recovery.restored,
            recovery.replayed,
            settings.data_dir,
        )
    elif created and data_dir is not None and data_dir.has_items():
        count = data_dir.restore_items(clients, settings.table_name)
        restored = True
        log.info("restored %d items from %s", count, settings.data_dir)
    return durable, restored


def _set_handler_environment(
    settings: Settings, endpoint: str, topic_arn: str, data_dir: DataDir | None, data_key_id: str
) -> None:
    """What Terraform gives each function, pointed at the emulator; handlers read it at import."""
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.access_key,
        "AWS_SECRET_ACCESS_KEY": settings.secret_key,
        "EVENTSTORE_TABLE_NAME": settings.table_name,
        "EVENTSTORE_TOPIC_ARN": topic_arn,
        "EVENTSTORE_KEYS_TABLE_NAME": settings.keys_table_name,
        "EVENTSTORE_PAYLOAD_BUCKET": settings.payload_bucket_name,
        "EVENTSTORE_DATA_KEY_KMS_KEY_ID": data_key_id,
        "EVENTSTORE_PAGE_KEY_SECRET": data_dir.page_key_secret() if data_dir else secrets.token_hex(32),
        "EVENTSTORE_RETENTION_DEFAULTS": settings.retention_defaults,
    }
    if settings.archive:
        environment["EVENTSTORE_ARCHIVE_BUCKET"] = settings.archive_bucket_name
    else:
        os.environ.pop("EVENTSTORE_ARCHIVE_BUCKET", None)
    unset = (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "EVENTSTORE_PAGE_KEY_KMS_KEY_ID",
        "EVENTSTORE_RETENTION_DEFAULTS",
    )
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(environment)
    # Quieter defaults than Lambda's: EMF metric lines and per-request JSON logs would drown the runtime's
    # own one line per request. Set them in the environment to see them.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "eventstore")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "EventStore")
    os.environ.update(settings.extra_environment)


def _functions(settings: Settings, routes: Sequence[Route]) -> dict[str, LambdaFunction]:
    names = sorted({route.function for route in routes} | {NOTIFY_FUNCTION, REMOVAL_FUNCTION})
    functions = {
        name: LambdaFunction(name, settings.repo_root / "functions" / name, settings.region) for name in names
    }
    for function in functions.values():
        try:
            function.warm_up()
        except FunctionNotFoundError as exc:
            log.warning("%s (its routes answer 502)", exc)
    return functions


def _start_pump(
    settings: Settings,
    clients: Clients,
    *,
    function: LambdaFunction,
    table_stream: str,
    queue_url: str,
    data_dir: DataDir | None,
    skip_existing_records: bool,
) -> StreamPump | None:
    if not function.exists:
        log.warning("%s has no handler.py: no notifications", function.name)
        return None
    pump = StreamPump(
        clients=clients,
        stream_arn=table_stream,
        function=function,
        on_failure_queue_url=queue_url,
        region=settings.region,
        settings=settings.pump,
        positions=data_dir.load_positions(table_stream) if data_dir else None,
        skip_existing_records=skip_existing_records,
    )
    pump.start()
    return pump


class _Snapshots:
    """With --data-dir and an external emulator: table and pump positions saved every few seconds when they
    changed, and at stop."""

    def __init__(
        self,
        data_dir: DataDir | None,
        clients: Clients,
        table_name: str,
        table_stream: str,
        pump: StreamPump | None,
    ) -> None:
        self._data_dir = data_dir
        self._clients = clients
        self._table_name = table_name
        self._stream = table_stream
        self._pump = pump
        self._saved_positions: dict[str, str] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)

    def start(self) -> None:
        if self._data_dir is not None:
            self._thread.start()

    def stop(self) -> None:
        if self._data_dir is None:
            return
        self._stopping.set()
        self._thread.join()
        self._save(force=True)

    def _run(self) -> None:
        while not self._stopping.wait(_SNAPSHOT_SECONDS):
            try:
                self._save(force=False)
            except Exception:
                log.exception("snapshot failed; will retry")

    def _save(self, *, force: bool) -> None:
        assert self._data_dir is not None
        # Every write to the table shows in its stream, so unchanged pump positions mean an unchanged table.
        positions = self._pump.positions() if self._pump is not None else {}
        if not force and positions == self._saved_positions:
            return
        count = self._data_dir.save_items(self._clients, self._table_name)
        self._data_dir.save_positions(self._stream, positions)
        self._saved_positions = positions
        log.info("saved %d items to the data dir", count)


def _serve_terraform_stack(settings: Settings, endpoint: str, emulator: Emulator | None) -> RunningStore:
    """--from-terraform: apply the workspace to a fresh built-in emulator (an external one is read as it
    is), then serve what the emulator holds: its routes, functions (from their zips) and mappings."""
    workspace = Workspace(settings.terraform_dir, settings.workspace)
    build_dir = settings.build_dir.resolve()
    if emulator is not None:
        manifest = json.loads((build_dir / "manifest.json").read_text())
        started = time.monotonic()
        log.info("terraform apply of workspace %s to %s (about a minute on moto)", workspace.name, endpoint)
        workspace.ensure()
        workspace.apply(
            {
                "aws_endpoint_url": endpoint,
                "build_dir": str(build_dir),
                "lambda_architecture": manifest["architecture"],
            }
        )
        log.info("applied in %.0f s", time.monotonic() - started)
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
    )
    stack = read_stack(session, endpoint, workspace.outputs(), build_dir)
    log.info("serving %s (workspace %s): %s", stack.table_name, workspace.name, routes_summary(stack.routes))
    scratch = Path(tempfile.mkdtemp(prefix="eventstore-functions-"))
    base_environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.access_key,
        "AWS_SECRET_ACCESS_KEY": settings.secret_key,
        # Quieter than Lambda (as in the default mode) unless the function's configuration says otherwise.
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        **settings.extra_environment,
    }
    unpack = Unpacker(scratch)
    functions = {
        arn: IsolatedFunction(package, unpack, base_environment) for arn, package in stack.packages.items()
    }
    with ThreadPoolExecutor(max_workers=4) as starting:
        list(starting.map(lambda function: function.warm_up(), functions.values()))
    clients = Clients.connect(endpoint, settings.region, settings.access_key, settings.secret_key)
    pumps = [
        StreamPump(
            clients=clients,
            stream_arn=stack.stream_arn,
            function=functions[mapping.function_arn],
            on_failure_queue_url=mapping.on_failure_queue_url,
            region=settings.region,
            settings=replace(
                mapping.settings,
                poll_interval_seconds=settings.pump.poll_interval_seconds,
                retry_backoff_seconds=settings.pump.retry_backoff_seconds,
            ),
            skip_existing_records=mapping.start_at_latest,
            record_filter=mapping.matches,
        )
        for mapping in stack.mappings
    ]
    if not pumps:
        log.warning("no event source mapping on %s: no notifications", stack.stream_arn)
    for pump in pumps:
        pump.start()
    gateway = ApiGateway(
        stack.routes,
        functions,
        credentials={settings.access_key: settings.secret_key},
        region=settings.region,
        require_iam=settings.require_iam,
        docs=ApiDocs(settings.repo_root / "openapi.yaml"),
        console=ConsolePages(allow_writes=settings.console_writes),
    )
    api = ApiServer(settings.host, settings.api_port, gateway)
    api.start()

    def stop() -> None:
        api.stop()
        for pump in pumps:
            pump.stop()
        for function in functions.values():
            function.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        if emulator is not None:
            emulator.stop()
        log.info("stopped")

    return RunningStore(
        api_url=api.url,
        aws_endpoint_url=endpoint,
        region=settings.region,
        table_name=stack.table_name,
        stream_arn=stack.stream_arn,
        topic_arn=stack.topic_arn,
        on_failure_queue_url=stack.on_failure_queue_url,
        demo_queue_url=stack.subscriber_queue_url,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        _stop=stop,
    )
