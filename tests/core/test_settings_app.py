"""Settings, the Celery configuration and the published schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from tests.support.helpers import ROOT, ingest
from worker.core.errors import ConfigError
from worker.core.schema import record_schema
from worker.core.settings import Settings, load_settings, mask_url, masked
from worker.queue.app import celery_config, default_concurrency, make_app


def test_celery_is_json_only_with_late_acks() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", visibility_timeout=123)
    app = make_app(settings, "redis://127.0.0.1:1/0")
    conf = app.conf
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.result_accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_ignore_result is True
    assert conf.broker_transport_options["visibility_timeout"] == 123
    assert conf.result_backend_transport_options["visibility_timeout"] == 123
    process_batch = app.tasks["ingest.process_batch"]
    assert process_batch.name == "ingest.process_batch"
    assert process_batch.acks_late is True
    assert process_batch.reject_on_worker_lost is True
    assert process_batch.app.conf.accept_content == ["json"]


def test_broker_defaults_to_the_store() -> None:
    conf = celery_config(Settings(), "redis://h:1/2")
    assert conf["broker_url"] == "redis://h:1/2"
    conf = celery_config(Settings(broker_url="amqp://guest:guest@h//"), "redis://h:1/2")
    assert conf["broker_url"] == "amqp://guest:guest@h//"


def test_worker_processes_default_to_one_more_than_the_cpus() -> None:
    assert default_concurrency(2) == 3
    assert default_concurrency(1) == 2
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert celery_config(Settings(), "redis://h:1/2")["worker_concurrency"] == (cpus or 1) + 1
    chosen = Settings(worker_concurrency=5)
    assert celery_config(chosen, "redis://h:1/2")["worker_concurrency"] == 5


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("INGEST_VISIBILITY_TIMEOUT", "-5", "INGEST_VISIBILITY_TIMEOUT"),
        ("INGEST_VISIBILITY_TIMEOUT", "soon", "INGEST_VISIBILITY_TIMEOUT"),
        ("INGEST_REDIS_URL", "http://nope", "INGEST_REDIS_URL"),
        ("INGEST_FEED_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-net", "INGEST_FEED_ALLOWED_NETWORKS"),
        ("INGEST_NAMESPACE", "has space", "INGEST_NAMESPACE"),
    ],
)
def test_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_bad_setting_fails_the_command_at_start() -> None:
    result = ingest("stats", url=None, INGEST_VISIBILITY_TIMEOUT="-1")
    assert result.returncode == 2
    assert "INGEST_VISIBILITY_TIMEOUT" in result.stderr


def test_allowed_networks_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_FEED_ALLOWED_NETWORKS", "10.0.0.0/8, fd00::/8")
    assert load_settings().feed_allowed_networks == ("10.0.0.0/8", "fd00::/8")


@pytest.mark.parametrize("form", ['["10.0.0.0/8", "fd00::/8"]', "['10.0.0.0/8', 'fd00::/8']"])
def test_allowed_networks_take_the_list_form(monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    monkeypatch.setenv("INGEST_FEED_ALLOWED_NETWORKS", form)
    assert load_settings().feed_allowed_networks == ("10.0.0.0/8", "fd00::/8")


def test_the_line_ingest_config_prints_can_be_pasted_back() -> None:
    shown = ingest("config", url=None, INGEST_FEED_ALLOWED_NETWORKS="10.0.0.0/8,fd00::/8")
    assert shown.returncode == 0, shown.stderr
    [line] = [x for x in shown.stdout.splitlines() if x.startswith("INGEST_FEED_ALLOWED_NETWORKS=")]
    again = ingest("config", url=None, INGEST_FEED_ALLOWED_NETWORKS=line.partition("=")[2])
    assert again.returncode == 0, again.stderr
    assert line in again.stdout.splitlines()


def test_a_bad_value_in_the_config_file_names_its_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conf = tmp_path / "ingest.toml"
    conf.write_text("visibility_timeout = -5\n")
    monkeypatch.setenv("INGEST_CONFIG_FILE", str(conf))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"config file {conf}: key visibility_timeout: ")
    monkeypatch.setenv("INGEST_VISIBILITY_TIMEOUT", "-3")  # the variable wins: it is named
    with pytest.raises(ConfigError, match=r"^INGEST_VISIBILITY_TIMEOUT: "):
        load_settings()


def test_config_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "ingest.toml"
    conf.write_text('namespace = "fromfile"\nbatch_size = 7\n')
    monkeypatch.setenv("INGEST_CONFIG_FILE", str(conf))
    monkeypatch.setenv("INGEST_BATCH_SIZE", "9")
    settings = load_settings()
    assert (settings.namespace, settings.batch_size) == ("fromfile", 9)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:s3cret@h:6380/1", "rediss://user:***@h:6380/1"),
        ("amqp://guest:s3cret@h//", "amqp://guest:***@h//"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "s3cret" not in str(masked(Settings(redis_url=url if "amqp" not in url else None)))


def test_checked_in_schema_matches_the_model() -> None:
    checked_in = json.loads((ROOT / "docs" / "record.schema.json").read_text())
    assert checked_in == record_schema()
    result = ingest("schema", url=None)
    assert json.loads(result.stdout) == checked_in
    jsonschema.Draft202012Validator.check_schema(checked_in)
