"""The checks of hand-made queue messages, as plain functions (worker.queue.malformed)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from worker.queue.malformed import (
    MAX_KEPT,
    body_problem,
    envelope_problem,
    header_problem,
    refused,
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
GOOD_HEADERS = {"task": "ingest.process_batch", "id": "batch-1", "retries": 0}


def test_what_the_producer_sends_passes() -> None:
    assert header_problem({**GOOD_HEADERS, "timelimit": [None, None], "eta": None}) is None
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    assert body_problem("ingest.process_batch", [[[{"input_id": "x"}]], {}, embed]) is None
    assert body_problem("ingest.process_batch", [[], {"messages": []}, {}]) is None
    assert body_problem("ingest.poll_feeds", [[], {}, {}]) is None
    envelope = {"body": "eA==", "properties": {"delivery_tag": "t", "body_encoding": "base64"}}
    assert envelope_problem(envelope) is None


def test_the_reported_shapes_are_refused() -> None:
    for body in ({"a": 1}, [1, 2], None, [[], {}], "text", b"bytes"):
        assert body_problem("ingest.process_batch", body) is not None
    assert body_problem("ingest.process_batch", [[1, 2], {}, {}]) is not None
    assert body_problem("ingest.poll_feeds", [[1], {}, {}]) is not None
    assert header_problem({**GOOD_HEADERS, "timelimit": [1, "x"]}) is not None
    assert header_problem({**GOOD_HEADERS, "retries": True}) is not None
    assert header_problem({**GOOD_HEADERS, "expires": "next week"}) is not None
    assert header_problem({**GOOD_HEADERS, "task": "celery.backend_cleanup"}) is not None
    assert envelope_problem([1, 2, 3]) is not None
    bad_base64 = {"body": "!!", "properties": {"delivery_tag": "t", "body_encoding": "base64"}}
    assert envelope_problem(bad_base64) == "the envelope's body is not valid base64"


@given(JSON_VALUES)
def test_any_json_is_judged_without_raising(value: Any) -> None:
    envelope_problem(value)
    body_problem("ingest.process_batch", value)
    header_problem(value)


@given(st.binary(max_size=3 * MAX_KEPT // 2), st.text(max_size=50))
def test_a_rejection_keeps_at_most_max_kept_bytes(raw: bytes, problem: str) -> None:
    item = refused(raw, problem)
    assert item.payload == raw[:MAX_KEPT]
    assert item.rejection.reason == "input.malformed_message"
    assert item.item_id == refused(raw, "other").item_id  # same bytes, same input
    assert json.loads(item.rejection.model_dump_json())["input_id"] == item.item_id
