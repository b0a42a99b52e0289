"""The API server over real sockets, with small handlers in temporary function folders."""

import http.client
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from local_runtime import REPO_ROOT
from local_runtime.docs import ApiDocs
from local_runtime.gateway_server import ApiGateway, ApiServer
from local_runtime.lambdas import LambdaFunction
from local_runtime.proxy_events import load_routes
from local_runtime.sigv4 import BAD_SIGNATURE
from local_runtime.testing import SignedHttp

HANDLERS = {
    "echo": (
        "import json\n"
        "from helper import wrap\n"  # a module beside the handler: the folder is the zip root
        "def handler(event, context):\n"
        "    body = {'event': event, 'function': context.function_name,\n"
        "            'remaining': context.get_remaining_time_in_millis()}\n"
        "    return wrap(body)\n"
    ),
    "slow": (
        "import time, uuid\n"
        "CONTAINER = str(uuid.uuid4())  # module scope: once per container\n"
        "def handler(event, context):\n"
        "    time.sleep(0.3)\n"
        "    return {'statusCode': 200, 'body': CONTAINER}\n"
    ),
    "boom": "def handler(event, context):\n    raise RuntimeError('boom')\n",
    "malformed": "def handler(event, context):\n    return {'statusCode': 200, 'body': {}}\n",
}
ROUTES = {
    "routes": [
        {"method": "GET", "path": "/echo/{name}", "function": "echo"},
        {"method": "POST", "path": "/echo/{name}", "function": "echo"},
        {"method": "GET", "path": "/boom", "function": "boom"},
        {"method": "GET", "path": "/slow", "function": "slow"},
        {"method": "GET", "path": "/malformed", "function": "malformed"},
    ]
}


def _serve(root: Path, *, require_iam: bool, timeout: float = 29.0) -> ApiServer:
    for name, source in HANDLERS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "handler.py").write_text(source)
    (root / "echo" / "helper.py").write_text(
        "import json\ndef wrap(body):\n    return {'statusCode': 200, 'body': json.dumps(body)}\n"
    )
    (root / "routes.json").write_text(json.dumps(ROUTES))
    functions = {name: LambdaFunction(name, root / name, "us-east-1") for name in HANDLERS}
    gateway = ApiGateway(
        load_routes(root / "routes.json"),
        functions,
        credentials={"test": "test"},
        region="us-east-1",
        require_iam=require_iam,
        docs=ApiDocs(REPO_ROOT / "openapi.yaml"),
        integration_timeout_seconds=timeout,
    )
    server = ApiServer("127.0.0.1", 0, gateway)
    server.start()
    return server


@pytest.fixture(scope="module")
def iam_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedHttp]:
    server = _serve(tmp_path_factory.mktemp("functions"), require_iam=True)
    yield SignedHttp(server.url, region="us-east-1", access_key="test", secret_key="test")
    server.stop()


def test_unsigned_request_gets_api_gateways_403(iam_api: SignedHttp) -> None:
    response = iam_api.request("GET", "/echo/x", sign=False)
    assert response.status == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_wrongly_signed_request_gets_403(iam_api: SignedHttp) -> None:
    response = iam_api.request("POST", "/echo/x", {"a": 1}, secret_key="not-the-secret")
    assert response.status == 403
    assert response.json() == {"message": BAD_SIGNATURE}


def test_signed_request_reaches_the_handler_with_the_callers_identity(iam_api: SignedHttp) -> None:
    response = iam_api.request("POST", "/echo/a%20b?q=1&q=2", {"a": 1}, headers={"X-Custom": "v"})
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    event = body["event"]
    assert body["function"] == "echo"
    assert 0 < body["remaining"] <= 29_000
    assert event["httpMethod"] == "POST"
    assert event["resource"] == "/echo/{name}"
    assert event["path"] == "/echo/a b"
    assert event["pathParameters"] == {"name": "a b"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["headers"]["X-Custom"] == "v"
    assert json.loads(event["body"]) == {"a": 1}
    identity = event["requestContext"]["identity"]
    assert identity["userArn"] == "arn:aws:iam::123456789012:user/test"
    assert identity["accessKey"] == "test"
    assert identity["sourceIp"] == "127.0.0.1"


def test_unknown_route_or_method_is_403_even_when_signed(iam_api: SignedHttp) -> None:
    for method, path in [("GET", "/nowhere"), ("DELETE", "/echo/x")]:
        response = iam_api.request(method, path)
        assert response.status == 403
        assert response.json() == {"message": "Missing Authentication Token"}


def test_handler_exception_and_malformed_response_are_502(iam_api: SignedHttp) -> None:
    for path in ["/boom", "/malformed"]:
        response = iam_api.request("GET", path)
        assert response.status == 502
        assert response.json() == {"message": "Internal server error"}


def test_swagger_ui_and_spec_are_served(iam_api: SignedHttp) -> None:
    root = iam_api.request("GET", "/", sign=False)
    assert (root.status, root.headers["Location"]) == (302, "/openapi/")
    page = iam_api.request("GET", "/openapi/", sign=False)
    assert page.status == 200
    assert b"swagger-ui-bundle.js" in page.body
    assert iam_api.request("GET", "/openapi/swagger-ui-bundle.js", sign=False).status == 200
    assert b"/openapi.yaml" in iam_api.request("GET", "/openapi/swagger-initializer.js", sign=False).body
    assert iam_api.request("GET", "/openapi.json", sign=False).json()["openapi"].startswith("3.")
    assert iam_api.request("GET", "/openapi.yaml", sign=False).body.startswith(b"openapi:")


def test_without_require_iam_unsigned_requests_pass_anonymously(tmp_path: Path) -> None:
    server = _serve(tmp_path, require_iam=False)
    try:
        api = SignedHttp(server.url, region="us-east-1", access_key="test", secret_key="test")
        response = api.request("GET", "/echo/x", sign=False)
        assert response.status == 200
        assert response.json()["event"]["requestContext"]["identity"]["userArn"] is None
        assert api.request("GET", "/echo/x", secret_key="wrong").status == 403
    finally:
        server.stop()


def test_concurrent_invocations_run_in_separate_containers_that_stay_warm(iam_api: SignedHttp) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: iam_api.request("GET", "/slow"), range(4)))
    elapsed = time.monotonic() - started
    containers = {r.body for r in responses}
    assert [r.status for r in responses] == [200] * 4
    assert len(containers) == 4  # one event at a time per container, as in Lambda
    assert elapsed < 1.1  # ... but the four ran side by side (one after another: 1.2 s)
    assert iam_api.request("GET", "/slow").body in containers  # a warm container is reused


def test_a_handler_slower_than_the_integration_timeout_gets_504(tmp_path: Path) -> None:
    server = _serve(tmp_path, require_iam=False, timeout=0.1)
    try:
        api = SignedHttp(server.url, region="us-east-1", access_key="test", secret_key="test")
        response = api.request("GET", "/slow", sign=False)
        assert (response.status, response.json()) == (504, {"message": "Endpoint request timed out"})
    finally:
        server.stop()


def test_a_chunked_request_body_reaches_the_handler(tmp_path: Path) -> None:
    server = _serve(tmp_path, require_iam=False)
    try:
        connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
        chunks = iter([b'{"a":', b" 1}"])
        connection.request("POST", "/echo/x", body=chunks, encode_chunked=True)
        reply = connection.getresponse()
        assert reply.status == 200
        assert json.loads(json.loads(reply.read())["event"]["body"]) == {"a": 1}
    finally:
        server.stop()


def test_the_served_spec_names_the_url_in_use(iam_api: SignedHttp) -> None:
    # Swagger UI's "Try it out" sends requests to `servers`: it must be this server, on its --api-port.
    written = (REPO_ROOT / "openapi.yaml").read_text()
    (server,) = yaml.safe_load(written)["servers"]
    assert server["url"] != iam_api.base_url
    served_yaml = iam_api.request("GET", "/openapi.yaml", sign=False).body.decode()
    assert yaml.safe_load(served_yaml)["servers"] == [{**server, "url": iam_api.base_url}]
    assert served_yaml == written.replace(server["url"], iam_api.base_url)  # otherwise the file as written
    served_json = iam_api.request("GET", "/openapi.json", sign=False).json()
    assert served_json == {**yaml.safe_load(written), "servers": [{**server, "url": iam_api.base_url}]}
    # Reached by another name (a forwarded port, a LAN address): the name the browser used.
    by_name = iam_api.request("GET", "/openapi.json", sign=False, headers={"Host": "devbox.local:8123"})
    assert by_name.json()["servers"][0]["url"] == "http://devbox.local:8123"
    forged = iam_api.request("GET", "/openapi.json", sign=False, headers={"Host": "a.example/x?y=<z>"})
    assert forged.json()["servers"][0]["url"] == server["url"]


def _send_raw(base_url: str, request: bytes) -> tuple[int, str, bytes]:
    """Bytes as a client might send them; the answer must come in seconds, not at the client's timeout."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        reply = http.client.HTTPResponse(connection)
        reply.begin()
        return reply.status, reply.getheader("Content-Type", ""), reply.read()


HEAD = b"POST /echo/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (HEAD + b"Content-Length: abc\r\n\r\n{}", 400, "Bad Request"),
        (HEAD + b"Content-Length: -1\r\n\r\n{}", 400, "Bad Request"),
        (HEAD + b"Content-Length: 1, 2\r\n\r\n{}", 400, "Bad Request"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "Bad Request"),
        (HEAD + b"Content-Length: 10485761\r\n\r\n", 413, "Request Too Long"),
        (
            b"GET /echo/x?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
            414,
            "Request URI Too Long",
        ),
    ],
    ids=[
        "content-length-abc",
        "content-length-negative",
        "content-length-list",
        "bad-chunk-size",
        "over-10-mb",
        "query-over-64-kib",
    ],
)
def test_a_request_the_gateway_cannot_take_gets_its_json_error(
    iam_api: SignedHttp, request_bytes: bytes, status: int, message: str
) -> None:
    assert _send_raw(iam_api.base_url, request_bytes) == (
        status,
        "application/json",
        json.dumps({"message": message}).encode(),
    )


def test_a_body_shorter_than_its_content_length_is_not_handed_on(tmp_path: Path) -> None:
    server = _serve(tmp_path, require_iam=False)
    try:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(HEAD + b"Content-Length: 10\r\n\r\n{}")
            connection.shutdown(socket.SHUT_WR)  # the client gives up on the rest of its body
            reply = http.client.HTTPResponse(connection)
            reply.begin()
            assert (reply.status, reply.getheader("Content-Type")) == (400, "application/json")
    finally:
        server.stop()


def test_lambdas_request_and_response_limits_are_enforced_after_escaping(iam_api: SignedHttp) -> None:
    """The body is escaped into the event (Lambda's request: under 6,291,456 bytes) and the handler's body
    escaped into its response (at most 6,291,556): within API Gateway's 10 MiB, either can be passed."""
    fits = iam_api.request("POST", "/echo/x", {"q": "a" * 3_000_000})
    assert fits.status == 200
    quotes = iam_api.request("POST", "/echo/x", {"q": '"' * 3_200_000})  # 6.4 MB sent, 12.8 MB escaped
    assert quotes.status == 413
    assert quotes.json() == {"message": "Request Too Long"}
    # 1.25 M backslashes: 2.5 MB sent, 5 MB in the event, 10 MB in the echo's response.
    backslashes = iam_api.request("POST", "/echo/x", {"q": "\\" * 1_250_000})
    assert backslashes.status == 502
    assert backslashes.json() == {"message": "Internal server error"}
