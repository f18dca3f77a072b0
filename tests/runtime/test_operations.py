"""Operations: logs, metrics, stats with queue depth, health, the deployment settings."""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import env_for, ingest, wait_until
from tests.support.procs import Child
from worker.core.errors import ConfigError
from worker.core.logs import JsonFormatter, RedactPasswords, redact
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings, load_settings
from worker.pipeline.process import prepare_message
from worker.queue.app import make_app
from worker.runtime.embedded import free_port
from worker.runtime.lease import embedded_redis
from worker.runtime.metrics import exposition, registry
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


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_exact_for_large_counts_and_escape_labels(store: Store) -> None:
    big = 2**53 - 1  # the largest integer a Prometheus float holds exactly
    store.client.hset(store.keys.stats, mapping={"records": 1_234_567, "updates": big})
    store.client.hset(store.keys.rejection_reasons, mapping={'a"b\\c\nd': 7})
    reg = registry(store, make_app(store.settings, "redis://127.0.0.1:1/0"), "q")
    text = exposition(reg)
    got = samples(text)
    assert got[("ingest_records_created_total", ())] == 1_234_567
    assert int(got[("ingest_records_updated_total", ())]) == big
    assert got[("ingest_rejections_total", (("reason", 'a"b\\c\nd'),))] == 7
    assert got[("ingest_up", ())] == 1
    assert "1.23457e+06" not in text  # what %g printed: six digits, the rest lost
    assert "ingest_queue_depth" not in text  # the broker on port 1 does not answer


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
    got = samples(text.stdout)
    assert got[("ingest_queue_depth", ())] == 2
    assert got[("ingest_inputs_queued", ())] == 2
    assert got[("ingest_up", ())] == 1


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
    healthy = ingest("health", url=redis_url)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stderr.splitlines()[0].startswith("store redis://:***@127.0.0.1:")
    assert healthy.stderr.splitlines()[1].startswith("broker redis://:***@127.0.0.1:")
    assert all(line.endswith(": ok") for line in healthy.stderr.splitlines())
    down = ingest("health", url=redis_url, INGEST_BROKER_URL="redis://127.0.0.1:1/0")
    assert down.returncode == 1
    store_line, broker_line, verdict = down.stderr.splitlines()
    assert store_line.endswith(": ok")
    assert broker_line.startswith("broker redis://127.0.0.1:1/0: FAILED")
    assert verdict == "error: unhealthy: broker"
    gone = ingest("health", "--json", url="redis://127.0.0.1:1/0")
    assert gone.returncode == 1
    checks = [json.loads(line) for line in gone.stdout.splitlines()]
    assert [c["check"] for c in checks] == ["store", "broker"]
    assert all(c["problem"] for c in checks)


def test_health_of_the_embedded_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stopped = ingest("health", url=None, INGEST_DATA_DIR=str(data))
    assert stopped.returncode == 1
    assert "the embedded store is not running" in stopped.stderr
    assert not (data / "server.json").exists()  # health never starts the store
    with embedded_redis(data):
        running = ingest("health", url=None, INGEST_DATA_DIR=str(data))
    assert running.returncode == 0, running.stderr
    assert running.stderr.startswith("store embedded redis://:***@127.0.0.1:")


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
    # Celery's own soft shutdown would sleep the whole timeout: the app bounds the warm
    # shutdown by the setting instead (worker.queue.shutdown; test_compose_services.py).
    assert conf.worker_soft_shutdown_timeout == 0
    assert conf.worker_send_task_events is True
    assert conf.task_send_sent_event is True
    assert conf.task_acks_late is True
    assert conf.accept_content == ["json"]


def test_metrics_server_answers_concurrent_scrapes_past_an_idle_client(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = env_for(redis_url, INGEST_METRICS_PORT=str(port))
    argv = [sys.executable, "-m", "worker", "metrics", "--serve"]
    server = Child(argv, env, name="metrics", pipe_stderr=True).start().popen
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(lambda: scrape(url) is not None, timeout=30, what="metrics server")
        # A client that connects and never sends a request must not hold up the others.
        with socket.create_connection(("127.0.0.1", port)), ThreadPoolExecutor(2) as pool:
            started = time.monotonic()
            bodies = list(pool.map(scrape, [url, url]))
            took = time.monotonic() - started
        assert all(body is not None and "ingest_up 1.0\n" in body for body in bodies)
        assert took < 5, took
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()  # type: ignore[no-any-return]
    except OSError:
        return None


def test_a_worker_loads_the_language_model_before_its_pool_forks() -> None:
    from worker.queue.preload import Preload
    from worker.text.language import model

    app = make_app(Settings(), "redis://h:1/0")
    assert Preload in app.steps["worker"]
    model.cache_clear()  # the scorer built from py3langid's tables (issue 24), cached
    Preload(parent=None)
    assert model.cache_info().currsize == 1  # loaded, so forked children share it
