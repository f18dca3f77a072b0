"""Each docker-compose service's command, run as a local process against the test Redis.

The containers cannot run here, so the commands do: taken verbatim from docker-compose.yml,
with the service's environment (and .env.example values), the private Redis instead of
the `redis` service, free ports, and local folders for the container paths.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.compose_helpers import ServiceProcess, healthcheck, publish_one
from tests.support.helpers import ROOT, SEEDS, WorkerProcess, suite_binary, wait_until
from worker.core.protocol import TASK_PROCESS_BATCH
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer, free_port, wait_for_redis
from worker.storage.store import Store

pytestmark = pytest.mark.slow
AUTH = "admin:a-real-flower-secret"  # .env.example's placeholder is refused


def http_get(url: str, auth: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


def answers(url: str, text: str = "", auth: str | None = None) -> bool:
    status, body = http_get(url, auth)
    return status == 200 and text in body


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    """worker, flower and metrics running, as compose starts them, on the test Redis."""
    base = {"INGEST_REDIS_URL": redis_url, "INGEST_BROKER_URL": "", "INGEST_NAMESPACE": "test"}
    procs = {
        "worker": ServiceProcess("worker", {**base, "INGEST_WORKER_CONCURRENCY": "1"}),
        "flower": ServiceProcess(
            "flower",
            {
                **base,
                "INGEST_REDIS_URL": bare(redis_url)[0],
                "FLOWER_ADDRESS": "127.0.0.1",
                "FLOWER_PORT": str(free_port()),
            },
            # FLOWER_BASIC_AUTH_FILE and INGEST_REDIS_PASSWORD_FILE, as compose mounts them.
            secrets={"flower_auth": AUTH, "redis_password": bare(redis_url)[1]},
        ),
        "metrics": ServiceProcess(
            "metrics",
            {**base, "INGEST_METRICS_HOST": "127.0.0.1", "INGEST_METRICS_PORT": str(free_port())},
        ),
    }
    try:
        for proc in procs.values():
            proc.start()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def test_compose_services_take_documents_through(
    stack: dict[str, ServiceProcess],
    redis_url: str,
    redis_server: RedisServer,
    store: Store,
    tmp_path: Path,
) -> None:
    worker, flower, metrics = stack["worker"], stack["flower"], stack["metrics"]
    flower_url = f"http://127.0.0.1:{flower.env['FLOWER_PORT']}"
    metrics_url = f"http://127.0.0.1:{metrics.env['INGEST_METRICS_PORT']}/metrics"
    worker.wait_for("ready.")
    wait_until(lambda: answers(f"{flower_url}/healthcheck"), timeout=60, what="flower")
    # Flower shows a worker once its heartbeat event arrived: its event receiver is live.
    wait_until(
        lambda: answers(f"{flower_url}/metrics", "flower_worker_online{"),
        timeout=60,
        what="flower sees the worker",
        alive=flower.alive,
    )
    wait_until(lambda: answers(metrics_url), timeout=60, what="metrics", alive=metrics.alive)
    assert healthcheck("worker", worker.env, {}) == 0
    assert healthcheck("worker", worker.env, {"worker@": "nobody@", "10": "2"}) != 0
    flower_port = flower.env["FLOWER_PORT"]
    assert healthcheck("flower", flower.env, {":5555/": f":{flower_port}/"}) == 0
    metrics_port = metrics.env["INGEST_METRICS_PORT"]
    assert healthcheck("metrics", metrics.env, {":9808/": f":{metrics_port}/"}) == 0

    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "broken.txt").write_bytes(b"no header here\n\nbody\n")
    producer = ServiceProcess(
        "producer",
        {"INGEST_REDIS_URL": redis_url, "INGEST_BROKER_URL": "", "INGEST_NAMESPACE": "test"},
        paths={"/seeds": seeds},
    )
    done = producer.run()
    assert done.returncode == 0, done.stderr
    wait_until(
        lambda: store.stats()["queued"] == 0 and store.stats()["enqueued"] == 2,
        timeout=90,
        what="both inputs decided",
        alive=worker.alive,
    )
    assert store.stats()["records"] == 1
    assert store.stats()["rejections"] == 1

    status, body = http_get(metrics_url)
    assert status == 200
    assert "ingest_records_created_total 1.0\n" in body
    assert 'ingest_rejections_total{reason="seed.no_header"} 1.0\n' in body
    assert "ingest_queue_depth 0.0\n" in body

    assert http_get(flower_url + "/")[0] == 401
    assert http_get(flower_url + "/", "admin:wrong")[0] == 401
    assert http_get(flower_url + "/", AUTH)[0] == 200
    wait_until(
        lambda: answers(f"{flower_url}/metrics", 'flower_task_runtime_seconds_count{task="ingest'),
        timeout=60,
        what="flower's task runtime metric",
    )

    logs = worker.output()
    records = [json.loads(line) for line in logs.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    in_task = [r for r in records if r.get("task_name") == TASK_PROCESS_BATCH]
    assert in_task
    assert all(r["task_id"] for r in in_task)
    for proc in (worker, flower, metrics):
        assert redis_server.password not in proc.output(), proc.service
    assert redis_server.password not in done.stdout + done.stderr
    assert worker.stop() == 0


def test_beat_starts_and_keeps_its_schedule(redis_url: str, tmp_path: Path) -> None:
    beat = ServiceProcess(
        "beat",
        {"INGEST_REDIS_URL": redis_url, "INGEST_BROKER_URL": "", "INGEST_NAMESPACE": "test"},
        paths={"/var/lib/ingest/beat": tmp_path},
    ).start()
    try:
        wait_until(
            lambda: any(tmp_path.glob("celerybeat-schedule*")),
            timeout=60,
            what="beat's schedule file",
            alive=beat.alive,
        )
        beat.wait_for("beat: Starting")
        assert healthcheck("beat", beat.env, {}) == 0
        lines = [json.loads(line) for line in beat.output().splitlines() if line.strip()]
        assert any(r["logger"].startswith("celery.beat") for r in lines)
        assert beat.alive()
    finally:
        beat.stop()


def stopping_worker(store_url: str, broker_url: str, soft_shutdown: int) -> ServiceProcess:
    """The worker service, one process, on a store and broker of its own; ready."""
    env = {"INGEST_REDIS_URL": store_url, "INGEST_BROKER_URL": broker_url}
    env |= {"INGEST_NAMESPACE": "test", "INGEST_WORKER_CONCURRENCY": "1"}
    env |= {"INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT": str(soft_shutdown), "INGEST_LOG_FORMAT": "text"}
    worker = ServiceProcess("worker", env).start()
    worker.wait_for("ready.")
    return worker


def test_a_stopping_worker_requeues_its_running_task(redis_url: str, tmp_path: Path) -> None:
    """SIGTERM mid-task: the soft shutdown expires, the task goes back to the queue, and a
    new worker finishes it. The task is held mid-write by pausing the store's Redis."""
    store_server = RedisServer(tmp_path / "store", persist=False, binary=suite_binary()).start()
    try:
        settings = Settings(redis_url=store_server.url, broker_url=redis_url, namespace="test")
        worker = stopping_worker(store_server.url, redis_url, soft_shutdown=1)
        broker, held = redis.Redis.from_url(redis_url), redis.Redis.from_url(store_server.url)
        held.execute_command("CLIENT", "PAUSE", 120_000, "WRITE")
        publish_one(settings, tmp_path / "held.txt")
        wait_until(
            lambda: broker.llen("ingest") == 0 and broker.hlen("unacked") == 1,
            timeout=60,
            what="the worker holds the task",
        )
        # Stop once the task runs (its write blocked by the pause), not while it is still on
        # its way into the pool child: see tests/queue/test_rabbitmq.py.
        wait_until(
            lambda: int(held.info("clients")["blocked_clients"]) >= 1,
            timeout=60,
            what="the worker's task blocked on the paused store",
        )
        assert worker.stop(timeout=30) == 0
        assert "Restoring 1 unacknowledged message" in worker.output()
        assert (broker.llen("ingest"), broker.hlen("unacked")) == (1, 0)
        assert store_server.password not in worker.output()
        held.execute_command("CLIENT", "UNPAUSE")

        store = Store.from_url(store_server.url, settings)
        finisher = WorkerProcess(store_server.url, INGEST_BROKER_URL=redis_url).start()
        try:
            wait_until(lambda: store.stats()["records"] == 1, timeout=60, what="the record")
        finally:
            finisher.stop()
        assert broker.llen("ingest") == 0
    finally:
        store_server.stop()


def test_a_stopping_worker_exits_once_its_task_is_done(redis_url: str, tmp_path: Path) -> None:
    """SIGTERM mid-task is a warm shutdown: the task finishes and the worker exits at once,
    not after the whole INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT."""
    store_server = RedisServer(tmp_path / "store", persist=False, binary=suite_binary()).start()
    try:
        settings = Settings(redis_url=store_server.url, broker_url=redis_url, namespace="test")
        worker = stopping_worker(store_server.url, redis_url, soft_shutdown=60)
        held = redis.Redis.from_url(store_server.url)
        held.execute_command("CLIENT", "PAUSE", 120_000, "WRITE")
        publish_one(settings, tmp_path / "held.txt")
        wait_until(
            lambda: int(held.info("clients")["blocked_clients"]) >= 1,
            timeout=60,
            what="the worker's task blocked on the paused store",
        )
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
        worker.wait_for("Warm shutdown")
        assert worker.alive()  # its task still runs: it waits for it
        held.execute_command("CLIENT", "UNPAUSE")
        started = time.monotonic()
        assert worker.stop(timeout=30) == 0
        assert time.monotonic() - started < 20  # far below the 60 s bound
        assert "Cold shutdown" not in worker.output()
        store = Store.from_url(store_server.url, settings)
        assert store.stats()["records"] == 1
    finally:
        store_server.stop()


@pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
    reason="no redis-server/redis-cli on PATH to run the redis service's command",
)
def test_redis_service_command_persists_with_its_config(tmp_path: Path) -> None:
    """The redis service's command and config/redis.conf, on this machine's redis-server:
    password required (from the secret file, on no command line), AOF every second, no
    eviction, data kept across a `docker stop`."""
    port = free_port()
    local_conf = f"{ROOT / 'config' / 'redis.conf'} --port {port} --bind 127.0.0.1 --dir {tmp_path}"
    auth_dir = tmp_path / "redis-auth"
    auth_dir.mkdir()
    replace = {
        "/usr/local/etc/redis/redis.conf": local_conf,
        "/run/redis-auth": auth_dir,
        # The image's entrypoint drops root, then runs its arguments; here they run as we are.
        "docker-entrypoint.sh ": "",
    }
    password = "a-real-redis-secret"
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    secrets = {"redis_password": password}

    def start() -> ServiceProcess:
        server = ServiceProcess("redis", {}, paths=replace, secrets=secrets).start()
        wait_for_redis(url, process=server.proc)
        return server

    server = start()
    try:
        client = redis.Redis.from_url(url)
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
        assert config["maxmemory-policy"] == "noeviction"
        assert config["maxmemory"] == str(1024**3)  # REDIS_MAXMEMORY=1gb of .env.example
        assert server.proc is not None
        argv = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert password.encode() not in argv  # `ps` shows no password
        assert (auth_dir / "auth.conf").stat().st_mode & 0o077 == 0  # its user's alone
        # The container's redis-cli talks to its own 6379; here, to our server's port.
        on_port = {"redis-cli ": f"redis-cli -p {port} ", **server.mapped}
        assert healthcheck("redis", server.env, on_port) == 0
        wrong = ServiceProcess("redis", {}, secrets={"redis_password": "wrong"})
        assert healthcheck("redis", wrong.env, {**on_port, **wrong.mapped}) != 0
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).get("x")  # a password is required
        client.set("kept", "1")
        assert server.stop() == 0  # SIGTERM, as `docker stop`: Redis flushes the AOF
        server = start()
        assert client.get("kept") == b"1"
    finally:
        server.stop()


def bare(url: str) -> tuple[str, str]:
    """A test server's URL without its password, and the password (for a secret file)."""
    password = redis.Redis.from_url(url).connection_pool.connection_kwargs["password"]
    return url.replace(f":{password}@", ""), password


def test_api_service_serves_with_its_secret_files(redis_url: str) -> None:
    """The api service's command and healthcheck; its keys and the Redis password come
    from the compose secret files, none from the environment."""
    port = str(free_port())
    url, password = bare(redis_url)
    writer, reader = "w" * 40, "r" * 40 + ":read"
    api = ServiceProcess(
        "api",
        {
            "INGEST_REDIS_URL": url,
            "INGEST_BROKER_URL": "",
            "INGEST_NAMESPACE": "test",
            "INGEST_API_HOST": "127.0.0.1",
            "INGEST_API_PORT": port,
        },
        secrets={"redis_password": password, "api_keys": f"{writer}\n{reader}"},
    ).start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{base}/healthz"), timeout=60, what="api", alive=api.alive)
        assert healthcheck("api", api.env, {":8000/": f":{port}/"}) == 0
        request = urllib.request.Request(
            f"{base}/v1/documents?source=compose.txt",
            data=b"date 2024-03-05 Through compose\n\nBody.\n",
            headers={"Authorization": f"Bearer {writer}", "Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        assert http_get(f"{base}/v1/records")[0] == 401
        assert "INGEST_API_KEYS" not in api.env
        assert password not in " ".join(api.env.values())
        logs = [json.loads(line) for line in api.output().splitlines() if line.strip()]
        assert any(r["logger"] == "uvicorn.access" for r in logs)
        assert writer not in api.output()
        assert password not in api.output()
    finally:
        assert api.stop() == 0


PLACEHOLDERS = {
    "redis_password": "change-me-to-a-long-random-hex-string",
    "flower_auth": "admin:change-me-too",
    "api_keys": "change-me-writer-key-0123456789",
    "rabbitmq_password": "change-me-rabbit",
}


@pytest.mark.parametrize(
    "service", ["redis", "worker", "beat", "flower", "metrics", "producer", "api"]
)
def test_services_refuse_placeholder_secrets(service: str, redis_url: str, tmp_path: Path) -> None:
    """A secret file left at a placeholder (`change-me...`) never runs: one line, no trace."""
    overrides, secrets = {}, dict(PLACEHOLDERS)
    if service in ("flower", "api"):  # a real Redis password: their own secret is refused
        url, password = bare(redis_url)
        overrides = {"INGEST_REDIS_URL": url, "INGEST_NAMESPACE": "test"}
        secrets["redis_password"] = password
    paths = {"/var/lib/ingest/beat": tmp_path, "/seeds": str(SEEDS), "/run/redis-auth": tmp_path}
    done = ServiceProcess(service, overrides, paths=dict(paths), secrets=secrets).run(timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "placeholder" in lines[0]
    assert "openssl rand -hex 24" in lines[0]
    named = {"flower": "FLOWER_BASIC_AUTH", "api": "INGEST_API_KEYS_FILE"}
    assert (
        named.get(
            service, "redis_password".upper() if service != "redis" else "redis_password"
        ).lower()
        in lines[0].lower()
    )
