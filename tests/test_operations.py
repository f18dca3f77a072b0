"""Operations: logs, metrics, stats with queue depth, health, the deployment settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.helpers import ingest
from worker.core.errors import ConfigError
from worker.core.logs import JsonFormatter, RedactPasswords, redact
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings, load_settings
from worker.pipeline.process import prepare_message
from worker.queue.app import make_app
from worker.runtime.metrics import Metric, render
from worker.storage.store import Store


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Connected to redis://:s3cret@h:6379/0", "Connected to redis://:***@h:6379/0"),
        (
            "broker amqp://user:s3cret@rabbit:5672// down",
            "broker amqp://user:***@rabbit:5672// down",
        ),
        (
            "two rediss://a:s3cret@x/1 redis://:s3cret@y/2",
            "two rediss://a:***@x/1 redis://:***@y/2",
        ),
        ("no secret in redis://h:6379/0", "no secret in redis://h:6379/0"),
    ],
)
def test_urls_lose_their_passwords_in_logs(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_json_formatter_writes_one_object_per_record() -> None:
    record = logging.LogRecord(
        "worker.x", logging.WARNING, __file__, 1, "url %s", ("redis://:pw@h/0",), None
    )
    assert RedactPasswords().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "worker.x"
    assert data["message"] == "url redis://:***@h/0"
    assert data["ts"].endswith("Z")
    assert "task_id" not in data


def test_metrics_text_format_escapes_label_values() -> None:
    metric = Metric("x_total", "counter", "X.", [({"reason": 'a"b\\c\nd'}, 2), ({}, 1.5)])
    assert render([metric]).splitlines() == [
        "# HELP x_total X.",
        "# TYPE x_total counter",
        'x_total{reason="a\\"b\\\\c\\nd"} 2',
        "x_total 1.5",
    ]


def test_rejections_are_counted_per_reason_once_per_input(store: Store) -> None:
    items = prepare_message({"input_id": "bad-1", "source": "x"}, store.settings)
    seed = Envelope(input_id="bad-2", kind=InputKind.SEED, source="y", data=b"no header\n")
    items += prepare_message(seed.model_dump(mode="json", exclude_none=True), store.settings)
    store.commit(items)
    store.commit(items)  # a redelivery changes nothing
    reasons = store.rejection_reasons()
    assert sum(reasons.values()) == store.stats()["rejections"] == 2
    assert reasons == {"input.malformed": 1, "seed.no_header": 1}


def test_stats_and_metrics_commands_report_queue_depth(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"date 2024-01-02 Title\n\nBody.\n")
    (tmp_path / "b.txt").write_bytes(b"no header\n")
    assert ingest("enqueue", str(tmp_path), url=redis_url, INGEST_BATCH_SIZE="1").returncode == 0
    result = ingest("stats", "--json", url=redis_url)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["queue_depth"] == 2  # two tasks, nobody consuming
    assert counts["queued"] == 2
    assert counts["rejections_by_reason"] == {}
    text = ingest("metrics", url=redis_url)
    assert text.returncode == 0, text.stderr
    assert "ingest_queue_depth 2\n" in text.stdout
    assert "ingest_inputs_queued 2\n" in text.stdout
    assert "ingest_up 1\n" in text.stdout


def test_stats_survives_an_unreachable_broker_and_logs_json(redis_url: str) -> None:
    result = ingest(
        "stats",
        "--json",
        url=redis_url,
        INGEST_BROKER_URL="redis://:topsecret@127.0.0.1:1/0",
        INGEST_LOG_FORMAT="json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["queue_depth"] is None
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(r["level"] == "WARNING" and "queue depth" in r["message"] for r in lines)
    assert "topsecret" not in result.stderr + result.stdout


def test_health_checks_store_and_broker(redis_url: str) -> None:
    assert ingest("health", url=redis_url).returncode == 0
    down = ingest("health", url=redis_url, INGEST_BROKER_URL="redis://127.0.0.1:1/0")
    assert down.returncode == 1
    assert "broker unreachable" in down.stderr
    gone = ingest("health", url="redis://127.0.0.1:1/0")
    assert gone.returncode == 1


def test_config_command_masks_the_password(redis_url: str) -> None:
    result = ingest("config", "--json", url=redis_url, INGEST_BROKER_URL="amqp://u:hunter2@h//")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["broker_url"] == "amqp://u:***@h//"
    assert shown["worker_soft_shutdown_timeout"] == 10.0
    password = redis_url.split(":")[2].split("@")[0]
    assert password not in result.stdout
    assert "hunter2" not in result.stdout


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT", "-1"),
        ("INGEST_METRICS_PORT", "70000"),
        ("INGEST_LOG_FORMAT", "xml"),
        ("INGEST_TASK_EVENTS", "perhaps"),
        ("INGEST_BROKER_URL", "amqp:/missing-slash"),
    ],
)
def test_bad_deployment_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=env):
        load_settings()


def test_worker_shutdown_and_events_come_from_settings() -> None:
    conf = make_app(
        Settings(worker_soft_shutdown_timeout=7.5, task_events=True), "redis://h:1/0"
    ).conf
    assert conf.worker_soft_shutdown_timeout == 7.5
    assert conf.worker_send_task_events is True
    assert conf.task_send_sent_event is True
    assert conf.task_acks_late is True
    assert conf.accept_content == ["json"]
