"""HTTP API throughput: requests per second of ``ingest serve`` on a private Redis.

    python benchmarks/http_api.py [--seconds 10] [--concurrency 16]

Starts a redis-server and one ``ingest serve`` process (one uvicorn worker, the rate
limit lifted, access log off), then keeps ``--concurrency`` requests in flight from one
asyncio httpx client for ``--seconds`` each against ``POST /v1/documents`` (a small seed
document, enqueued: no worker runs, so this is the cost of taking a document) and
``GET /v1/records/{id}`` (one stored record). The client shares the machine with the
server: the figures are a floor. Prints one JSON line per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.runtime.embedded import RedisServer, free_port
from worker.storage.store import Store

KEY = "benchmark-key-0123456789abcdef"
SEED = b"date 2024-03-05 Benchmark headline\n\nA short paragraph of body text.\n"
Request = Callable[[httpx.AsyncClient, int], "asyncio.Future[httpx.Response]"]


def stored_record(url: str) -> str:
    """Store one record the way a worker does; its id."""
    settings = Settings(redis_url=url, namespace="bench")
    store = Store.from_url(url, settings)
    env = Envelope(input_id=uuid.uuid4().hex, kind=InputKind.SEED, source="b.txt", data=SEED)
    [outcome] = pipeline.process_batch([env.model_dump(mode="json")], store, settings)
    assert outcome.id is not None
    return outcome.id


def start_api(url: str, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(
        INGEST_REDIS_URL=url,
        INGEST_NAMESPACE="bench",
        INGEST_API_KEYS=KEY,
        INGEST_API_RATE="1000000",
        INGEST_API_BURST="1000000",
        INGEST_LOG_LEVEL="WARNING",
        **extra_env,
    )
    cmd = [sys.executable, "-m", "worker", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("ingest serve did not answer")


async def hammer(
    base: str, send: Callable[[httpx.AsyncClient], object], seconds: float, concurrency: int
) -> dict[str, float]:
    """Keep ``concurrency`` requests in flight for ``seconds``; rate and latency."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def loop() -> None:
            nonlocal failures
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await send(client)  # type: ignore[misc]
                latencies.append(time.perf_counter() - started)
                failures += response.status_code >= 300

        began = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "failures": failures,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder), persist=False).start()
        port = free_port()
        api = start_api(server.url, port)
        try:
            record = stored_record(server.url)
            base = f"http://127.0.0.1:{port}"
            cases = {
                "POST /v1/documents": lambda c: c.post(
                    "/v1/documents", content=SEED, headers={"Content-Type": "text/plain"}
                ),
                "GET /v1/records/{id}": lambda c: c.get(f"/v1/records/{record}"),
            }
            for name, send in cases.items():
                result = asyncio.run(hammer(base, send, args.seconds, args.concurrency))
                print(json.dumps({"endpoint": name, "concurrency": args.concurrency, **result}))
        finally:
            api.terminate()
            api.wait(30)
            server.stop()


if __name__ == "__main__":
    main()
