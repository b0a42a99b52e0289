"""`python -m local_runtime` (`make run`): the whole event store in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from local_runtime.runtime import start
from local_runtime.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

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
    parser.add_argument("--data-dir", type=Path, help="keep the table here so streams survive a restart")
    parser.add_argument(
        "--region", default=environ.get("AWS_DEFAULT_REGION", defaults.region), help="default %(default)s"
    )
    parser.add_argument("--name", default=defaults.name, help="prefix of the table, topic and queue names")
    parser.add_argument(
        "--ready-file", type=Path, help="write the endpoints here as JSON once everything is up"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    args = parser.parse_args(argv)
    settings = Settings(
        host=args.host,
        api_port=args.api_port,
        emulator_port=args.emulator_port,
        require_iam=args.require_iam,
        data_dir=args.data_dir,
        region=args.region,
        name=args.name,
        external_endpoint=environ.get("AWS_ENDPOINT_URL") or None,
    )
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    return settings, args.ready_file


def main(argv: Sequence[str] | None = None) -> None:
    settings, ready_file = parse_settings(argv)
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        store = start(settings)
    except OSError as exc:  # typically a port in use: say which, without a traceback
        log.error("cannot start: %s (see --api-port, --emulator-port)", exc)  # noqa: TRY400
        raise SystemExit(1) from None
    log.info(
        "ready (Ctrl-C stops)\n"
        "  API:             %s  (docs: %s/openapi/)%s\n"
        "  AWS endpoint:    %s  (access key %s, secret %s, region %s)\n"
        "  table:           %s\n"
        "  topic:           %s\n"
        "  on-failure queue %s",
        store.api_url,
        store.api_url,
        "  IAM required" if settings.require_iam else "",
        store.aws_endpoint_url,
        store.access_key,
        store.secret_key,
        store.region,
        store.table_name,
        store.topic_arn,
        store.on_failure_queue_url,
    )
    if ready_file is not None:
        # Written whole and renamed, so a launcher polling for it never reads half of it.
        partial = ready_file.with_suffix(".partial")
        partial.write_text(json.dumps(store.describe()))
        partial.replace(ready_file)
    stopping.wait()
    log.info("stopping")
    store.stop()
    logging.shutdown()
    # Everything is stopped and saved: skip the interpreter's teardown of moto's many modules (1-3 s).
    os._exit(0)


if __name__ == "__main__":
    main()
