"""Settings, the Celery configuration and the published schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.helpers import ROOT, ingest
from worker.core.errors import ConfigError
from worker.core.schema import record_schema
from worker.core.settings import Settings, load_settings, mask_url, masked
from worker.queue.app import celery_config, make_app


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
