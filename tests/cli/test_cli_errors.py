"""Every mistake a user can make at the `ingest` command ends as one line, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from tests.queue.test_rabbitmq import rabbitmq_answers
from tests.support.helpers import ingest, seed_bytes

WRONG_AMQP = "amqp://guest:WRONG@127.0.0.1:5672//"


def one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single stderr line of a failed command, which must name every needle."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.txt"
    path.write_bytes(seed_bytes("A title", "A paragraph."))
    return path


@pytest.mark.skipif(not rabbitmq_answers(), reason="no RabbitMQ on 127.0.0.1:5672")
def test_broker_refusing_the_login_is_one_line(redis_url: str, doc: Path) -> None:
    result = ingest("enqueue", str(doc), url=redis_url, INGEST_BROKER_URL=WRONG_AMQP)
    line = one_line(result, "refused the login", "ACCESS_REFUSED", "user and password")
    assert result.returncode == 1
    assert "WRONG" not in line


def test_redis_broker_with_a_wrong_password_is_one_line(redis_url: str, doc: Path) -> None:
    wrong = redis_url.replace(redis_url.split(":")[2].split("@")[0], "not-the-password")
    result = ingest("enqueue", str(doc), url=redis_url, INGEST_BROKER_URL=wrong)
    one_line(result, "refused the login", "user and password")
    assert "not-the-password" not in result.stderr


def test_store_url_of_another_scheme_is_refused_naming_the_variable() -> None:
    result = ingest("records", "list", url=None, INGEST_REDIS_URL="amqp://u:p@127.0.0.1:5672//")
    one_line(result, "INGEST_REDIS_URL", "redis://")
    assert result.returncode == 2


def test_broker_url_may_be_amqp(tmp_path: Path) -> None:
    result = ingest("config", "--json", url=None, INGEST_BROKER_URL="amqp://u:p@h//")
    assert result.returncode == 0, result.stderr
    assert '"broker_url":"amqp://u:***@h//"' in result.stdout


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "ingest.toml"
    conf.write_text("batch_size = \n")
    result = ingest("config", url=None, INGEST_CONFIG_FILE=str(conf))
    one_line(result, str(conf), "not valid TOML", "line 1")
    assert result.returncode == 2


def test_missing_config_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = ingest("config", url=None, INGEST_CONFIG_FILE=str(missing))
    one_line(result, "INGEST_CONFIG_FILE", str(missing))


def test_misspelt_config_key_names_the_key_and_the_fix(tmp_path: Path) -> None:
    conf = tmp_path / "ingest.toml"
    conf.write_text("batch_sise = 3\n")
    result = ingest("config", url=None, INGEST_CONFIG_FILE=str(conf))
    one_line(result, "batch_sise", "did you mean batch_size?")


def test_misspelt_variable_names_the_closest_one() -> None:
    result = ingest("config", url=None, INGEST_BATCH_SISE="3")
    one_line(result, "INGEST_BATCH_SISE", "did you mean INGEST_BATCH_SIZE?")


def test_unknown_variable_lists_the_valid_names() -> None:
    result = ingest("config", url=None, INGEST_FROBNICATE="1")
    one_line(result, "INGEST_FROBNICATE", "INGEST_REDIS_URL", "INGEST_BATCH_SIZE")


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).set("test:record:broken", b"{not json")
    result = ingest("records", "show", "broken", url=redis_url)
    one_line(result, "unexpected error", "--debug")
    assert result.returncode == 1
    debug = ingest("--debug", "records", "show", "broken", url=redis_url)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr
