"""The end-to-end suite (tests/e2e) through the stack Terraform deployed, served by `--from-terraform`; plus
what only that mode shows: authorization, page keys and notifications as Terraform configured them."""

from __future__ import annotations

import boto3

from local_runtime.testing import LocalStore
from tests.e2e.test_store import (  # noqa: F401 - collected here too, against this module's store
    test_a_sealed_snapshot_loads_a_stream_and_is_no_event,
    test_conflicts_carry_the_current_revision,
    test_create_append_notify_read_details_list,
    test_listing_pages_and_filters_by_update_time,
    test_retrying_with_the_same_event_ids_is_a_replay,
)


def test_methods_require_sigv4_because_terraform_says_so(local_store: LocalStore) -> None:
    # The runtime was started without --require-iam: the 403 comes from the methods' AWS_IAM.
    unsigned = local_store.client().request("GET", "/liveness-check", sign=False)
    signed = local_store.client().request("GET", "/liveness-check")

    assert (unsigned.status, signed.status) == (403, 200)


def test_listing_signs_page_keys_with_the_deployed_kms_key(local_store: LocalStore) -> None:
    functions = boto3.client("lambda", **local_store.boto3_kwargs())
    listing = next(
        f for f in functions.list_functions()["Functions"] if f["FunctionName"].endswith("-list-streams")
    )
    environment = listing["Environment"]["Variables"]
    http = local_store.client()
    created = {"initialEvent": {"eventType": "Placed", "payload": {}}}
    for _ in range(3):
        assert http.request("POST", "/streams/Kms.Paged", created).status == 201

    first = http.request("GET", "/streams/Kms.Paged?limit=1").json()["streamPage"]
    key = first["nextPageKey"]
    second = http.request("GET", f"/streams/Kms.Paged?limit=1&nextPageKey={key}")
    forged = http.request("GET", f"/streams/Kms.Paged?limit=1&nextPageKey={key[:-4]}AAAA")

    # Only the KMS key is configured, so the page key's HMAC secret came from KMS GenerateMac.
    assert "EVENTSTORE_PAGE_KEY_KMS_KEY_ID" in environment
    assert "EVENTSTORE_PAGE_KEY_SECRET" not in environment
    assert second.status == 200
    assert second.json()["streamPage"]["streams"][0]["streamId"] != first["streams"][0]["streamId"]
    assert forged.status == 400
