"""`python -m local_runtime` (`make run`): the whole event store in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from eventstore.config import ConfigurationError, RetentionSettings
from local_runtime.deployed import DeploymentError
from local_runtime.runtime import start
from local_runtime.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

    from local_runtime.runtime import RunningStore

log = logging.getLogger("local_runtime")


def parse_settings(
    argv: Sequence[str] | None = None, environ: dict[str, str] | None = None
) -> tuple[Settings, Path | None]:
    environ = dict(os.environ) if environ is None else environ
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m local_runtime",
        description="The event store on this machine: AWS emulator, API (API Gateway + Lambda), stream pump.",
        epilog="With AWS_ENDPOINT_URL set (e.g. LocalStack), that emulator is used and moto is not started.",
    )
    parser.add_argument("--host", default=defaults.host, help="interface to listen on (default %(default)s)")
    parser.add_argument(
        "--api-port", type=int, default=defaults.api_port, help="default %(default)s; 0 picks a free port"
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=defaults.emulator_port,
        help="default %(default)s; 0 picks a free port",
    )
    parser.add_argument(
        "--require-iam",
        action="store_true",
        help="reject unsigned requests with 403, as the deployed API does",
    )
    parser.add_argument(
        "--console-writes",
        action="store_true",
        help="the console at /console/ gets forms to create, append to and delete streams",
    )
    parser.add_argument("--data-dir", type=Path, help="keep the table here so streams survive a restart")
    parser.add_argument(
        "--region", default=environ.get("AWS_DEFAULT_REGION", defaults.region), help="default %(default)s"
    )
    parser.add_argument("--name", default=defaults.name, help="prefix of the table, topic and queue names")
    parser.add_argument(
        "--from-terraform",
        action="store_true",
        help="serve the stack Terraform deploys: apply --workspace to the emulator (unless AWS_ENDPOINT_URL "
        "names one already applied to), then run its routes, function zips and mappings as deployed",
    )
    parser.add_argument(
        "--workspace", default=defaults.workspace, help="with --from-terraform (default %(default)s)"
    )
    parser.add_argument(
        "--build-dir", type=Path, default=defaults.build_dir, help="with --from-terraform: where the zips are"
    )
    parser.add_argument(
        "--terraform-dir", type=Path, default=defaults.terraform_dir, help="with --from-terraform: the module"
    )
    parser.add_argument(
        "--ready-file", type=Path, help="write the endpoints here as JSON once everything is up"
    )
    parser.add_argument(
        "--removal-interval",
        type=float,
        default=defaults.removal_interval_seconds,
        metavar="SECONDS",
        help="run remove_expired this often (default %(default)s; 0: never)",
    )
    parser.add_argument(
        "--retention-defaults",
        default=environ.get("EVENTSTORE_RETENTION_DEFAULTS", ""),
        metavar="JSON",
        help='per stream type defaults, e.g. \'{"order": {"maxAgeSeconds": 86400}}\' '
        "(default: EVENTSTORE_RETENTION_DEFAULTS)",
    )
    parser.add_argument(
        "--no-archive", action="store_true", help="remove without archiving to the emulator's S3 bucket first"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    args = parser.parse_args(argv)
    if args.from_terraform and args.data_dir:
        parser.error("--data-dir keeps the runtime's own table; --from-terraform serves Terraform's")
    try:
        RetentionSettings.from_environment({"EVENTSTORE_RETENTION_DEFAULTS": args.retention_defaults})
    except ConfigurationError as exc:
        parser.error(f"--retention-defaults: {exc}")
    settings = Settings(
        host=args.host,
        api_port=args.api_port,
        emulator_port=args.emulator_port,
        require_iam=args.require_iam,
        console_writes=args.console_writes,
        data_dir=args.data_dir,
        region=args.region,
        name=args.name,
        external_endpoint=environ.get("AWS_ENDPOINT_URL") or None,
        from_terraform=args.from_terraform,
        workspace=args.workspace,
        build_dir=args.build_dir,
        terraform_dir=args.terraform_dir,
        removal_interval_seconds=args.removal_interval,
        retention_defaults=args.retention_defaults,
        archive=not args.no_archive,
    )
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    return settings, args.ready_file


def banner(store: RunningStore, settings: Settings) -> str:
    """What `make run` prints once ready: where everything is, where the data lives, how to watch it."""
    cli = Path(sys.executable).parent / "eventstore"
    shown_cli = os.path.relpath(cli) if cli.is_relative_to(Path.cwd()) else str(cli)
    data = (
        f"saved in {settings.data_dir} (kept across restarts)"
        if settings.data_dir
        else "in memory only: lost at exit (--data-dir DIR keeps it)"
    )
    return (
        "ready (Ctrl-C stops)\n"
        f"  API:              {store.api_url}  (docs: {store.api_url}/openapi/, "
        f"console: {store.api_url}/console/)"
        f"{'  IAM required' if settings.require_iam else ''}\n"
        f"  data:             {data}\n"
        f"  AWS endpoint:     {store.aws_endpoint_url}  (access key {store.access_key}, "
        f"secret {store.secret_key}, region {store.region})\n"
        f"  table:            {store.table_name}\n"
        f"  topic:            {store.topic_arn}\n"
        f"  on-failure queue: {store.on_failure_queue_url}\n"
        f"  demo queue:       {store.demo_queue_url}  (subscribed to the topic; watch it with:)\n"
        f"    AWS_ACCESS_KEY_ID={store.access_key} AWS_SECRET_ACCESS_KEY={store.secret_key} "
        f"AWS_DEFAULT_REGION={store.region} {shown_cli} --url {store.api_url} "
        f"tail --queue {store.demo_queue_url}"
    )


class StopRequests:
    """SIGINT/SIGTERM without deadlocks: the handler only records the request; the main thread acts on it.

    Python runs the handler in the main thread between any two bytecodes, also while that thread holds a
    lock (an earlier run of the handler inside Event.set, say), so it takes none: no Event.set, no logging.
    The signal module's wake-up descriptor wakes `wait()`. A group kill delivers the signal more than once
    within milliseconds (`make` forwards SIGTERM to its child), so repeats within `repeat_after` seconds
    are the same request; a later one (a second Ctrl-C) exits at once, without the graceful stop.
    """

    def __init__(self, repeat_after: float = 0.5) -> None:
        self._repeat_after = repeat_after
        self._first: float | None = None
        self._wakeup, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._record)

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = now
        elif now - self._first >= self._repeat_after:
            os.write(2, b"stopping now, on the second request: unsaved data is lost\n")
            os._exit(128 + signum)

    def wait(self) -> None:
        """Return once a stop was requested (at once if it already was)."""
        while self._first is None:
            os.read(self._wakeup, 64)


def main(argv: Sequence[str] | None = None) -> None:
    settings, ready_file = parse_settings(argv)
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop_requests = StopRequests()
    try:
        store = start(settings)
    except OSError as exc:  # typically a port in use: say which, without a traceback
        log.error("cannot start: %s (see --api-port, --emulator-port)", exc)  # noqa: TRY400
        raise SystemExit(1) from None
    except DeploymentError as exc:
        log.error("cannot serve the Terraform stack: %s", exc)  # noqa: TRY400 - the message says it all
        raise SystemExit(1) from None
    log.info("%s", banner(store, settings))
    if ready_file is not None:
        # Written whole and renamed, so a launcher polling for it never reads half of it.
        partial = ready_file.with_suffix(".partial")
        partial.write_text(json.dumps(store.describe()))
        partial.replace(ready_file)
    stop_requests.wait()
    log.info("stopping (again to stop at once)")
    store.stop()
    logging.shutdown()
    # Everything is stopped and saved: skip the interpreter's teardown of moto's many modules (1-3 s).
    os._exit(0)


if __name__ == "__main__":
    main()
