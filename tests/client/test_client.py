import pytest

from eventstore_client import (
    DataSubjectErased,
    DataSubjectNotFound,
    EventStoreClient,
    EventStoreError,
    HTTPError,
    InvalidRequest,
    MissingRegion,
    NewEvent,
    ServiceUnavailable,
    StreamAlreadyExists,
    StreamNotFound,
    TransportError,
    WrongExpectedRevision,
)
from tests.client.conftest import make_client
from tests.client.fakeserver import Failure, FakeServer


def test_every_request_carries_a_valid_sigv4_signature(fake: FakeServer, client: EventStoreClient) -> None:
    created = client.create_stream("Order", NewEvent("OrderPlaced", {"sku": "A1"}))
    client.append("Order", created.stream_id, NewEvent("Paid"), expected_revision=1)
    list(client.read_events("Order", created.stream_id))
    list(client.list_streams("Order"))
    client.get_stream("Order", created.stream_id)

    assert fake.store.signature_errors == []
    assert len(fake.store.requests) == 5
    for request in fake.store.requests:
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "/eu-west-1/execute-api/aws4_request" in request.headers["authorization"]


def test_a_wrong_secret_is_refused_by_the_verifier(fake: FakeServer) -> None:
    with make_client(fake.url, secret="not-the-secret") as client, pytest.raises(HTTPError) as raised:
        client.get_stream("Order", "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11")
    assert raised.value.status == 403
    assert fake.store.signature_errors == ["signature mismatch"]


def test_path_and_query_values_that_need_encoding_are_signed_as_sent(
    fake: FakeServer, client: EventStoreClient
) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    created = client.create_stream("billing:Invoice.v2", NewEvent("Issued"))
    assert client.get_stream("billing:Invoice.v2", created.stream_id).revision == 1
    list(client.list_streams("billing:Invoice.v2", updated_after=datetime(2025, 1, 1, tzinfo=UTC)))
    assert fake.store.signature_errors == []
    assert fake.store.requests[-1].query["updated-after"] == "2025-01-01T00:00:00Z"


def test_create_sends_initial_event_for_one_and_events_for_several(
    fake: FakeServer, client: EventStoreClient
) -> None:
    one = NewEvent("OrderPlaced", {"sku": "A1"}, {"correlationId": "c-1"})
    client.create_stream("Order", one)
    client.create_stream(
        "Order", [NewEvent("A"), NewEvent("B")], stream_id="3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"
    )

    first, second = (r.body for r in fake.store.requests)
    assert first == {
        "initialEvent": {
            "eventType": "OrderPlaced",
            "eventId": one.event_id,
            "payload": {"sku": "A1"},
            "metadata": {"correlationId": "c-1"},
        }
    }
    assert [e["eventType"] for e in second["events"]] == ["A", "B"]
    assert second["streamId"] == "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"


def test_append_at_a_revision_puts_and_a_batch_posts(fake: FakeServer, client: EventStoreClient) -> None:
    stream_id = client.create_stream("Order", NewEvent("Placed")).stream_id

    at_two = client.append("Order", stream_id, NewEvent("Paid"), revision=2)
    batch = client.append("Order", stream_id, [NewEvent("Packed"), NewEvent("Shipped")], expected_revision=2)
    anywhere = client.append("Order", stream_id, NewEvent("Delivered"), expected_revision="any")

    assert (at_two.revision, batch.revision, anywhere.revision) == (2, 4, 5)
    put, post, post_any = fake.store.requests[1:]
    assert (put.method, put.path) == ("PUT", f"/streams/Order/{stream_id}/events/2")
    assert (post.method, post.body["expectedRevision"]) == ("POST", 2)
    assert post_any.body["expectedRevision"] == "any"
    assert batch.event_ids == tuple(e["eventId"] for e in post.body["events"])


def test_append_needs_exactly_one_of_revision_and_expected_revision(client: EventStoreClient) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        client.append("Order", "x", NewEvent("Paid"))
    with pytest.raises(ValueError, match="exactly one"):
        client.append("Order", "x", NewEvent("Paid"), revision=2, expected_revision=1)


def test_read_events_pages_transparently(fake: FakeServer, client: EventStoreClient) -> None:
    stream_id = client.create_stream("Order", [NewEvent("E", i) for i in range(100)]).stream_id
    for start in range(100, 250, 50):
        client.append(
            "Order", stream_id, [NewEvent("E", i) for i in range(start, start + 50)], expected_revision=start
        )
    fake.store.requests.clear()

    events = list(client.read_events("Order", stream_id, after_revision=10, page_size=100))

    assert [e.revision for e in events] == list(range(11, 251))
    assert [e.payload for e in events] == list(range(10, 250))
    assert [r.query["after-revision"] for r in fake.store.requests] == ["10", "110", "210"]


def test_read_events_of_an_unknown_stream_raises_not_found(client: EventStoreClient) -> None:
    with pytest.raises(StreamNotFound) as raised:
        next(client.read_events("Order", "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11"))
    assert raised.value.status == 404


def test_list_streams_follows_next_page_keys(fake: FakeServer, client: EventStoreClient) -> None:
    ids = [client.create_stream("Order", NewEvent("Placed")).stream_id for _ in range(5)]
    client.create_stream("Invoice", NewEvent("Issued"))
    fake.store.requests.clear()

    streams = list(client.list_streams("Order", page_size=2))

    assert [s.stream_id for s in streams] == ids
    assert len(fake.store.requests) == 3
    assert "stream-next-page-key" not in fake.store.requests[0].query
    assert all("stream-next-page-key" in r.query for r in fake.store.requests[1:])


def test_a_503_is_retried_with_the_same_event_ids_honouring_retry_after(
    fake: FakeServer, client: EventStoreClient
) -> None:
    slept: list[float] = []
    client._transport._sleep = slept.append
    fake.store.fail_next(Failure(503, headers={"Retry-After": "2"}))

    result = client.create_stream("Order", [NewEvent("Placed"), NewEvent("Paid")])

    first, second = fake.store.requests
    assert first.body == second.body
    assert slept == [2.0]
    assert result.replayed is False
    assert result.revision == 2


def test_a_lost_answer_is_retried_and_the_server_replays(fake: FakeServer, client: EventStoreClient) -> None:
    stream_id = client.create_stream("Order", NewEvent("Placed")).stream_id
    fake.store.fail_next(Failure(503, after_write=True))

    result = client.append("Order", stream_id, [NewEvent("Paid"), NewEvent("Packed")], expected_revision=1)

    assert result.replayed is True
    assert result.revision == 3
    assert [e.event_id for e in client.read_events("Order", stream_id)][1:] == list(result.event_ids)


def test_an_any_append_with_an_unknown_outcome_is_not_repeated_but_a_throttle_is(
    fake: FakeServer, client: EventStoreClient
) -> None:
    stream_id = client.create_stream("Order", NewEvent("Placed")).stream_id
    fake.store.fail_next(Failure(503, after_write=True))
    with pytest.raises(ServiceUnavailable):
        client.append("Order", stream_id, NewEvent("Paid"), expected_revision="any")
    assert len(fake.store.requests) == 2  # the create and the one append attempt

    fake.store.fail_next(Failure(429, body={"message": "Too Many Requests"}))
    result = client.append("Order", stream_id, NewEvent("Packed"), expected_revision="any")
    assert result.revision == 3
    assert len(fake.store.requests) == 4


def test_a_dropped_connection_and_a_throttle_are_retried(fake: FakeServer, client: EventStoreClient) -> None:
    fake.store.fail_next(Failure(0), Failure(429, body={"message": "Too Many Requests"}))

    result = client.create_stream("Order", NewEvent("Placed"))

    assert result.revision == 1
    assert len(fake.store.requests) == 3
    assert len({str(r.body) for r in fake.store.requests}) == 1


def test_retries_are_bounded(fake: FakeServer, client: EventStoreClient) -> None:
    fake.store.fail_next(*[Failure(503, headers={"Retry-After": "0"})] * 10)

    with pytest.raises(ServiceUnavailable) as raised:
        client.create_stream("Order", NewEvent("Placed"))

    assert len(fake.store.requests) == 4
    assert raised.value.retry_after == 0.0


def test_no_answer_at_all_is_a_transport_error() -> None:
    with FakeServer() as server:
        url = server.url
    with make_client(url) as client, pytest.raises(TransportError):
        client.get_stream("Order", "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11")


def test_problems_map_to_typed_errors_and_are_not_retried(fake: FakeServer, client: EventStoreClient) -> None:
    stream_id = client.create_stream("Order", [NewEvent("Placed"), NewEvent("Paid")]).stream_id
    fake.store.requests.clear()

    with pytest.raises(WrongExpectedRevision) as conflict:
        client.append("Order", stream_id, NewEvent("Late"), expected_revision=1)
    with pytest.raises(StreamAlreadyExists) as exists:
        client.create_stream("Order", NewEvent("Again"), stream_id=stream_id)
    with pytest.raises(InvalidRequest) as invalid:
        client.create_stream("Order", NewEvent("not a type!"))

    assert conflict.value.current_revision == 2
    assert conflict.value.type == "urn:eventstore:problem:wrong-expected-revision"
    assert exists.value.current_revision == 2
    assert [p.name for p in invalid.value.invalid_params] == ["/body/initialEvent/eventType"]
    assert len(fake.store.requests) == 3


def test_region_comes_from_an_execute_api_url_or_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session  # noqa: PLC0415

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    session = botocore.session.Session()
    url = "https://abc123.execute-api.ap-southeast-2.amazonaws.com/prod"
    assert EventStoreClient(url, session=session).region == "ap-southeast-2"
    with pytest.raises(MissingRegion, match="AWS_REGION"):
        EventStoreClient("http://127.0.0.1:8000", session=session)


@pytest.mark.parametrize("url", ["127.0.0.1:28000", "localhost", "ftp://127.0.0.1/x", "http://", ""])
def test_a_url_without_scheme_or_host_fails_at_once_naming_it(url: str) -> None:
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        EventStoreClient(url, region="eu-west-1")


def test_a_page_that_does_not_advance_is_an_error_not_a_loop(
    fake: FakeServer, client: EventStoreClient
) -> None:
    stuck = {"eventPage": {"events": [], "hasMore": True, "lastEvaluatedRevision": 5}}
    fake.store.fail_next(Failure(200, body=stuck))

    with pytest.raises(EventStoreError, match="did not advance"):
        list(client.read_events("Order", "3f0e6a36-7f7e-4d4c-9a51-0c4b0e0f7a11", after_revision=5))


@pytest.mark.parametrize(
    ("updated_after", "sent"),
    [
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),
        ("2025-01-01T02:00:00+02:00", "2025-01-01T00:00:00Z"),
    ],
)
def test_a_time_at_the_edge_of_the_date_range_is_sent_not_overflowed(
    fake: FakeServer, client: EventStoreClient, updated_after: str, sent: str
) -> None:
    from datetime import datetime  # noqa: PLC0415

    list(client.list_streams("Order", updated_after=datetime.fromisoformat(updated_after)))
    assert fake.store.requests[-1].query["updated-after"] == sent


def test_a_data_subjects_events_read_back_until_the_subject_is_erased(client: EventStoreClient) -> None:
    about_ada = NewEvent("Registered", {"name": "Ada"}, data_subject="customer-7")
    plain = NewEvent("Noted", {"n": 1})
    stream = client.create_stream("person", [about_ada, plain]).stream
    events = list(client.read_events("person", stream.stream_id))
    assert [(e.payload, e.data_subject, e.payload_erased) for e in events] == [
        ({"name": "Ada"}, "customer-7", False),
        ({"n": 1}, None, False),
    ]
    assert client.get_data_subject("customer-7").state == "active"
    client.erase_data_subject("customer-7")
    client.erase_data_subject("customer-7")  # idempotent
    erased = client.get_data_subject("customer-7")
    assert erased.state == "erased"
    assert erased.erased_at is not None
    events = list(client.read_events("person", stream.stream_id))
    assert [(e.payload, e.payload_erased) for e in events] == [(None, True), ({"n": 1}, False)]
    assert events[0].to_json()["payloadErased"] is True
    with pytest.raises(DataSubjectErased):
        client.append("person", stream.stream_id, NewEvent("Moved", 1, data_subject="customer-7"), revision=3)
    with pytest.raises(DataSubjectNotFound):
        client.get_data_subject("nobody")
