"""Functions run from their zips in isolated interpreters (`--from-terraform`): what the package holds is
all they can import, as in Lambda; a package missing a module fails the call the way Lambda does."""

from __future__ import annotations

import logging
import zipfile
from typing import TYPE_CHECKING

import pytest

from local_runtime.containers import FunctionError, IsolatedFunction, Package, Unpacker
from local_runtime.gateway_server import ApiGateway
from local_runtime.proxy_events import IncomingRequest, Route, compile_resource

if TYPE_CHECKING:
    from pathlib import Path

# Imports the store's package, which the source tree has (shared/eventstore) but this layer does not.
NEEDS_EVENTSTORE = (
    "import eventstore.routes\n\ndef handler(event, context):\n    return {'statusCode': 200}\n"
)
ECHO = (
    "import os, greeting\n\n"
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'body': greeting.TEXT + ' ' + os.environ['WHO'] + ' '\n"
    "            + context.function_name + ' ' + str(context.get_remaining_time_in_millis() > 0)}\n"
)


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def function(tmp_path: Path, handler_source: str, layer_files: dict[str, str]) -> IsolatedFunction:
    package = Package(
        name="fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        handler="handler.handler",
        environment={"WHO": "from the configuration"},
        code_zip=write_zip(tmp_path / "code.zip", {"handler.py": handler_source}),
        layer_zips=(write_zip(tmp_path / "layer.zip", layer_files),),
        timeout_seconds=3,
        memory_mb=128,
    )
    return IsolatedFunction(package, Unpacker(tmp_path / "unpacked"), {"PATH": "/usr/bin"})


def gateway(isolated: IsolatedFunction) -> ApiGateway:
    route = Route("GET", "/thing", isolated.arn, compile_resource("/thing"))
    return ApiGateway(
        [route], {isolated.arn: isolated}, credentials={}, region="us-east-1", require_iam=False
    )


def get(api: ApiGateway) -> int:
    request = IncomingRequest("GET", "/thing", "", [("Host", "localhost")], [], b"", "127.0.0.1")
    return api.handle(request).status


def test_the_handler_imports_from_its_zip_and_layer_with_its_configuration(tmp_path: Path) -> None:
    isolated = function(tmp_path, ECHO, {"python/greeting.py": "TEXT = 'hello'\n"})
    try:
        result = isolated.invoke({})
    finally:
        isolated.stop()

    assert result == {"statusCode": 200, "body": "hello from the configuration fn True"}


def test_a_module_missing_from_the_package_is_a_502_and_logged_though_the_source_tree_has_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    isolated = function(tmp_path, NEEDS_EVENTSTORE, {"python/other.py": ""})
    api = gateway(isolated)
    try:
        with caplog.at_level(logging.ERROR, logger="local_runtime.gateway_server"):
            statuses = [get(api), get(api)]  # a failed init leaves no container: the next call retries it
    finally:
        api.close()
        isolated.stop()

    assert statuses == [502, 502]
    assert "Runtime.ImportModuleError: Unable to import module 'handler': No module named 'eventstore'" in (
        caplog.text
    )
    # The container's own log line, as Lambda's runtime writes it to CloudWatch.
    assert "[ERROR] Runtime.ImportModuleError" in capfd.readouterr().err


def test_an_unhandled_exception_is_the_functions_error(tmp_path: Path) -> None:
    source = "def handler(event, context):\n    raise KeyError('missing')\n"
    isolated = function(tmp_path, source, {})
    try:
        with pytest.raises(FunctionError) as raised:
            isolated.invoke({})
        with pytest.raises(FunctionError) as again:
            isolated.invoke({})  # the container survived its error and answers again
    finally:
        isolated.stop()

    assert raised.value.error_type == "KeyError"
    assert again.value.error_type == "KeyError"


def test_a_function_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    source = "import time\n\ndef handler(event, context):\n    time.sleep(30)\n"
    isolated = function(tmp_path, source, {})
    context = isolated.new_context()
    context.timeout_seconds = 0.5
    try:
        with pytest.raises(FunctionError) as raised:
            isolated.invoke({}, context)
    finally:
        isolated.stop()

    assert raised.value.error_type == "Sandbox.Timedout"
