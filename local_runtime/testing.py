"""For tests and benchmarks: run the local store in a subprocess and call its API with SigV4 signatures.

A subprocess keeps the runtime's moto backends and the handlers' environment out of the test process
(where other tests use `mock_aws`, which resets moto's global state).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

from botocore.credentials import Credentials

from eventstore_client._transport import sign_request
from local_runtime import REPO_ROOT
from local_runtime.endpoints import StoreEndpoints

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


class Boto3Kwargs(TypedDict):
    endpoint_url: str
    region_name: str
    aws_access_key_id: str
    aws_secret_access_key: str


@dataclass(frozen=True, slots=True)
class LocalStore(StoreEndpoints):
    log_file: Path
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)
    """`python -m local_runtime`, for tests of how it stops."""

    def client(self) -> SignedHttp:
        return SignedHttp(
            self.api_url, region=self.region, access_key=self.access_key, secret_key=self.secret_key
        )

    def boto3_kwargs(self) -> Boto3Kwargs:
        """For `boto3.client(service, **store.boto3_kwargs())`: the emulator and its credentials."""
        return {
            "endpoint_url": self.aws_endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
        }


@contextlib.contextmanager
def launch(
    *,
    require_iam: bool = True,
    data_dir: Path | None = None,
    environment: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> Iterator[LocalStore]:
    """`python -m local_runtime` on free ports; yields once it is ready, stops it (SIGINT) on exit."""
    with tempfile.TemporaryDirectory(prefix="local-store-") as scratch:
        ready_file = Path(scratch) / "ready.json"
        log_file = Path(scratch) / "local-store.log"
        args = [sys.executable, "-m", "local_runtime", "--api-port", "0", "--emulator-port", "0"]
        args += ["--ready-file", str(ready_file), *extra_args]
        if require_iam:
            args.append("--require-iam")
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(environment or {})
        with log_file.open("wb") as log:
            process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            described = _wait_until_ready(process, ready_file, log_file, startup_timeout)
            yield LocalStore(**described, log_file=log_file, process=process)
        finally:
            _stop(process)


def _wait_until_ready(
    process: subprocess.Popen[bytes], ready_file: Path, log_file: Path, timeout: float
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the local store did not start; its log:\n{log_file.read_text()[-4000:]}")
        time.sleep(0.05)
    described: dict[str, str] = json.loads(ready_file.read_text())
    return described


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class SignedHttp:
    """A small HTTP client for the API that signs with SigV4 (execute-api), one connection per thread."""

    base_url: str
    region: str
    access_key: str
    secret_key: str
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        sign: bool = True,
        secret_key: str | None = None,
    ) -> Response:
        """`body` is sent as JSON unless it is bytes; `secret_key` overrides the signing secret."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        if sign:
            credentials = Credentials(self.access_key, secret_key or self.secret_key)
            sent = sign_request(
                method, self.base_url + path, data, sent, credentials=credentials, region=self.region
            )
        return self._send(method, path, data, sent)

    def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> Response:
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request(method, path, body=data, headers=headers)
                reply = connection.getresponse()
                return Response(reply.status, dict(reply.getheaders()), reply.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed meanwhile: retry once on a new one.
                self._local.connection = None
                if attempt:
                    raise
        raise AssertionError  # unreachable: the loop returns or raises

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            parts = urlsplit(self.base_url)
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            self._local.connection = connection
        return connection
