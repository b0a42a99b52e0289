"""The benchmark's 1 KB payload is realistic: exactly 1,024 bytes of JSON, different for each event, and
compressible like real events are (about half), not like a run of one character."""

from __future__ import annotations

import json
import zlib

from bench.payloads import PAYLOAD_BYTES, realistic_payload


def test_payloads_are_1_kb_distinct_and_compress_like_real_events() -> None:
    texts = [json.dumps(realistic_payload(i), separators=(",", ":")).encode() for i in range(200)]
    assert {len(text) for text in texts} == {PAYLOAD_BYTES}
    assert len(set(texts)) == len(texts)
    assert texts[7] == json.dumps(realistic_payload(7), separators=(",", ":")).encode()  # reproducible
    ratios = [len(zlib.compress(text)) / len(text) for text in texts]
    assert min(ratios) > 0.35, min(ratios)
    assert max(ratios) < 0.7, max(ratios)
    filler = json.dumps({"data": "x" * 1013}, separators=(",", ":")).encode()
    assert len(zlib.compress(filler)) / len(filler) < 0.05  # what the old payload measured
