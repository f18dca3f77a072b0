"""Secrets never shown: URL passwords in query strings, tracebacks and stored rejections."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.helpers import ROOT, add_enqueued, ingest
from worker.core.models import Envelope, InputKind
from worker.core.settings import mask_url
from worker.core.textsafe import has_query_secret, redact_userinfo
from worker.pipeline.process import process_batch
from worker.storage.store import Store

LOGGING_CHILD = """
import logging, sys
from worker.core.logs import setup_logging
from worker.core.settings import Settings
setup_logging(Settings(log_format=sys.argv[1]))
def connect(url):
    raise ConnectionError(f"cannot reach {url}")
try:
    connect("redis://:s3cret-pw@db.example:6379/0?password=other-pw")
except ConnectionError:
    logging.getLogger("worker.test").exception("store down")
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_logged_traceback_loses_its_passwords(log_format: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_CHILD, log_format],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Traceback" in result.stderr
    assert "cannot reach redis://:***@db.example:6379/0?password=***" in result.stderr
    assert "s3cret-pw" not in result.stderr
    assert "other-pw" not in result.stderr
    if log_format == "json":
        assert "ConnectionError" in json.loads(result.stderr)["exc"]


def test_mask_url_hides_a_password_query() -> None:
    assert mask_url("redis://h:6379/0?password=s3cret&db=1") == "redis://h:6379/0?password=***&db=1"
    assert mask_url("redis://u:pw@h/0?password=pw2") == "redis://u:***@h/0?password=***"


def test_a_password_query_in_the_redis_url_is_refused_in_one_line() -> None:
    result = ingest("config", url=None, INGEST_REDIS_URL="redis://127.0.0.1:1/0?password=s3cret")
    assert result.returncode == 2
    assert "s3cret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "INGEST_REDIS_URL" in result.stderr
    assert "redis://:PASSWORD@host" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("config",), ("health",), ("worker",), ("--debug", "config"), ("--debug", "health")],
)
@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0?pass%77ord=s3cret-pw",  # a query key spelt in percent escapes
        "redis://127.0.0.1:1/0?db=0&%50ASSWORD=s3cret-pw",
        "http://:s3cret-pw@127.0.0.1:1/0",  # refused for its scheme: pydantic's input_value
    ],
)
def test_a_refused_redis_url_never_shows_its_password(command: tuple[str, ...], url: str) -> None:
    result = ingest(*command, url=None, INGEST_REDIS_URL=url, timeout=60)
    shown = result.stdout + result.stderr
    assert result.returncode == 2, shown
    assert "s3cret-pw" not in shown
    assert "TypeError" not in shown
    assert "INGEST_REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h/0?pass%77ord=pw&db=1", "redis://h/0?pass%77ord=***&db=1"),
        ("redis://h/0?%54oken=pw", "redis://h/0?%54oken=***"),
        ("redis://h/0?passwordless=1", "redis://h/0?passwordless=1"),
    ],
)
def test_query_secrets_are_found_by_their_decoded_name(url: str, shown: str) -> None:
    assert has_query_secret(url) == (shown != url)
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:pw@host/feed", "https://***@host/feed"),
        ("see 'https://token@host/f?a=b@c' now", "see 'https://***@host/f?a=b@c' now"),
        ("https://host/feed?mail=a@b.example", "https://host/feed?mail=a@b.example"),
    ],
)
def test_redact_userinfo(text: str, shown: str) -> None:
    assert redact_userinfo(text) == shown


def test_feed_url_credentials_are_never_stored_or_listed(redis_url: str, store: Store) -> None:
    """`ingest run` refuses such a URL up front; one that reaches a worker another way (the
    API, an old queue message) is rejected with the credentials masked."""
    feed = "https://someone:hunter2@127.0.0.1:9/feed.xml"
    run = ingest("run", "--json", "--feed", feed, url=redis_url)
    assert run.returncode != 0
    assert "hunter2" not in run.stdout + run.stderr
    add_enqueued(store, 1)
    envelope = Envelope(input_id="creds", kind=InputKind.FEED_URL, source=feed, url=feed)
    process_batch([envelope.model_dump(mode="json")], store, store.settings)
    listed = ingest("rejections", "list", url=redis_url)
    assert "someone" not in listed.stdout
    assert "hunter2" not in listed.stdout
    as_json = ingest("rejections", "list", "--json", url=redis_url)
    (rejection,) = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert rejection["source"] == "https://***@127.0.0.1:9/feed.xml"
    assert "credentials" in rejection["detail"]
    assert "hunter2" not in rejection["detail"]
