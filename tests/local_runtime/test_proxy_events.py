"""API Gateway's REST proxy integration rules: route matching, the format 1.0 event, response mapping."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from local_runtime import REPO_ROOT
from local_runtime.proxy_events import (
    IncomingRequest,
    MalformedResponseError,
    build_event,
    load_routes,
    map_response,
    match_route,
)
from local_runtime.sigv4 import Identity

ROUTES = load_routes(REPO_ROOT / "shared" / "eventstore" / "routes.json")
SAVED_EVENT = json.loads((Path(__file__).parent.parent / "events" / "apigw_rest_proxy_iam.json").read_text())


def _request(method: str = "GET", raw_path: str = "/streams/order", **overrides: Any) -> IncomingRequest:
    fields: dict[str, Any] = {
        "method": method,
        "raw_path": raw_path,
        "raw_query": "",
        "headers": [("Host", "127.0.0.1:8000"), ("User-Agent", "test-agent")],
        "query": [],
        "body": b"",
        "source_ip": "127.0.0.1",
    } | overrides
    return IncomingRequest(**fields)


def test_routes_match_with_literal_segments_first_and_decoded_parameters() -> None:
    matched = match_route(ROUTES, "GET", "/streams/order/a%20b/details")
    assert matched is not None
    route, params = matched
    assert (route.resource, route.function) == ("/streams/{streamType}/{streamId}/details", "read_events")
    assert params == {"streamType": "order", "streamId": "a b"}
    assert match_route(ROUTES, "DELETE", "/streams/order") is None
    assert match_route(ROUTES, "GET", "/streams/order/x/unknown") is None
    assert match_route(ROUTES, "GET", "/streams//x/details") is None


def test_a_feed_route_beside_the_stream_routes_matches_as_api_gateway_does() -> None:
    stream_id = "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"
    route, params = match_route(ROUTES, "GET", "/streams/order/feed") or pytest.fail("no route")
    assert (route.resource, route.function, params) == (
        "/streams/{streamType}/feed",
        "read_feed",
        {"streamType": "order"},
    )
    route, params = match_route(ROUTES, "GET", f"/streams/order/{stream_id}/events") or pytest.fail(
        "no route"
    )
    assert (route.resource, params) == (
        "/streams/{streamType}/{streamId}/events",
        {"streamType": "order", "streamId": stream_id},
    )
    # The literal `feed` resource is chosen and has no `events` child: API Gateway does not backtrack.
    assert match_route(ROUTES, "GET", "/streams/order/feed/events") is None
    assert match_route(ROUTES, "POST", "/streams/order/feed") is None
    route, _ = match_route(ROUTES, "GET", "/feed") or pytest.fail("no route")
    assert route.function == "read_feed"
    route, params = match_route(ROUTES, "PUT", "/checkpoints/orders.view") or pytest.fail("no route")
    assert (route.function, params) == ("checkpoints", {"name": "orders.view"})


def test_event_has_the_shape_api_gateway_sends() -> None:
    request = _request(
        "POST",
        "/streams/order",
        raw_query="a=1&a=2&b=x%20y",
        query=[("a", "1"), ("a", "2"), ("b", "x y")],
        headers=[("Host", "127.0.0.1:8000"), ("X-Multi", "one"), ("X-Multi", "two")],
        body=b'{"k":1}',
    )
    route, params = match_route(ROUTES, "POST", "/streams/order") or pytest.fail("no route")
    identity = Identity(access_key="test", session_token=None)
    event = build_event(request, route, params, identity=identity, request_id="rid", now=1795786420.5)

    assert set(SAVED_EVENT) <= set(event)
    assert set(SAVED_EVENT["requestContext"]) <= set(event["requestContext"])
    assert set(SAVED_EVENT["requestContext"]["identity"]) <= set(event["requestContext"]["identity"])
    assert event["resource"] == "/streams/{streamType}"
    assert event["pathParameters"] == {"streamType": "order"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert event["headers"]["X-Multi"] == "two"
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"k":1}', False)
    context = event["requestContext"]
    assert (context["requestId"], context["requestTimeEpoch"], context["resourcePath"]) == (
        "rid",
        1795786420500,
        "/streams/{streamType}",
    )
    assert context["requestTime"] == "27/Nov/2026:13:33:40 +0000"
    assert context["identity"]["userArn"] == "arn:aws:iam::123456789012:user/test"
    assert context["identity"]["accessKey"] == "test"
    assert context["identity"]["userAgent"] is None  # no User-Agent header was sent


def test_event_without_query_body_or_caller_uses_nulls() -> None:
    route, params = match_route(ROUTES, "GET", "/liveness-check") or pytest.fail("no route")
    event = build_event(_request(raw_path="/liveness-check"), route, params, identity=None, request_id="r")
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["requestContext"]["identity"]["userArn"] is None
    assert event["requestContext"]["identity"]["userAgent"] == "test-agent"


def test_binary_request_body_is_base64_encoded() -> None:
    route, params = match_route(ROUTES, "POST", "/streams/order") or pytest.fail("no route")
    event = build_event(_request("POST", body=b"\xff\x00"), route, params, identity=None, request_id="r")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"


def test_response_headers_merge_with_multi_value_headers_winning() -> None:
    response = map_response(
        {
            "statusCode": 201,
            "headers": {"A": "single", "B": "b", "Content-Type": "application/problem+json"},
            "multiValueHeaders": {"A": ["m1", "m2"], "Set-Cookie": ["x=1", "y=2"]},
            "body": "{}",
        }
    )
    assert response.status == 201
    assert sorted(response.headers) == sorted(
        [
            ("B", "b"),
            ("Content-Type", "application/problem+json"),
            ("A", "m1"),
            ("A", "m2"),
            ("Set-Cookie", "x=1"),
            ("Set-Cookie", "y=2"),
        ]
    )


def test_response_base64_body_is_decoded_and_content_type_defaults_to_json() -> None:
    response = map_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert response.body == b"\x00\x01"
    assert ("Content-Type", "application/json") in response.headers
    assert map_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {"body": "{}"},
        {"statusCode": "200", "body": "{}"},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "unexpected": 1},
        {"statusCode": 200, "headers": {"A": ["list"]}},
        {"statusCode": 200, "multiValueHeaders": {"A": "not a list"}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 200, "isBase64Encoded": "yes"},
    ],
)
def test_malformed_lambda_responses_are_rejected(result: Any) -> None:
    with pytest.raises(MalformedResponseError):
        map_response(result)
