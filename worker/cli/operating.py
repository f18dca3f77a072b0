"""Operations: ``stats``, ``prune``, ``metrics``, ``schema``, ``config``, ``health``."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich.table import Table

from worker.cli.base import (
    backend,
    emit_json,
    err,
    main,
    opened_store,
    out,
)
from worker.core.configfiles import CONFIG_NAME, config_file, user_config_dir
from worker.core.errors import IngestError
from worker.core.settings import Settings, get_settings, masked

log = logging.getLogger(__name__)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def stats(as_json: bool) -> None:
    """Live counts: records, updates, duplicates, rejections, queued."""
    from dataclasses import asdict

    from worker.core.events import STREAMS
    from worker.read.client import IngestClient
    from worker.runtime.depth import broker_depth
    from worker.storage.store import Store

    settings = get_settings()
    with backend(settings) as url:
        store = Store.from_url(url, settings)
        client = IngestClient(store.client, settings.namespace)
        counts: dict[str, Any] = store.stats()
        counts["queue_depth"] = broker_depth(settings, url)
        counts["rejections_by_reason"] = store.rejection_reasons()
        groups = [g for name in STREAMS for g in client.groups(name)]
    if as_json:
        emit_json({**counts, "groups": [asdict(g) for g in groups]})
        return
    table = Table("counter", "value")
    for name, value in counts.items():
        if isinstance(value, dict):
            for reason, n in value.items():
                table.add_row(f"  rejected {reason}", str(n))
        else:
            table.add_row(name, "unreachable" if value is None else str(value))
    out.print(table)
    if groups:
        table = Table("stream", "group", "consumers", "pending", "lag", "dead letters")
        for g in groups:
            row = (g.stream, g.group, g.consumers, g.pending, g.lag, g.dead_letters)
            table.add_row(*map(str, row))
        out.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def prune(as_json: bool) -> None:
    """Apply retention: trim the event streams, delete records past their retention."""
    from worker.storage.retention import prune as apply_retention

    settings = get_settings()
    with opened_store(settings) as store:
        report = apply_retention(store)
    if as_json:
        emit_json(
            {
                "records": report.records,
                "events": report.events,
                "payloads": report.payloads,
                "feeds": report.feeds,
            }
        )
        return
    trimmed = sum(report.events.values())
    out.print(
        f"pruned {report.records} records, trimmed {trimmed} stream entries, "
        f"dropped {report.payloads} expired payloads"
    )
    if settings.record_retention_days is None:
        err.print("records are kept: set INGEST_RECORD_RETENTION_DAYS to delete old ones")
    if settings.stream_max_age is None:
        err.print(
            f"streams are only capped at INGEST_STREAM_MAXLEN={settings.stream_maxlen}: "
            "set INGEST_STREAM_MAX_AGE (seconds) to drop old events"
        )


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string, or None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@main.command()
@click.option("--serve", is_flag=True, help="serve GET /metrics until stopped")
@click.option("--host", help="address to bind (default INGEST_METRICS_HOST)")
@click.option("--port", type=click.IntRange(1, 65535), help="default INGEST_METRICS_PORT")
def metrics(serve: bool, host: str | None, port: int | None) -> None:
    """Prometheus metrics: counters by outcome and reason, queue depth (once, or --serve)."""
    import threading

    from worker.queue.app import make_app
    from worker.runtime.metrics import exposition, registry
    from worker.runtime.metrics import serve as http_server
    from worker.storage.store import Store

    settings = get_settings()
    with backend(settings) as url:
        reg = registry(Store.from_url(url, settings), make_app(settings, url), settings.queue)
        if not serve:
            sys.stdout.write(exposition(reg))
            return
        server, _ = http_server(host or settings.metrics_host, port or settings.metrics_port, reg)
        # SIGTERM (docker stop) ends the wait cleanly, like Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        log.info("serving metrics on %s:%d/metrics", *server.server_address[:2])
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()


@main.command()
def schema() -> None:
    """Print the JSON Schema of a record (schema version 2)."""
    from worker.core.schema import record_schema

    sys.stdout.write(orjson.dumps(record_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def show_config(as_json: bool) -> None:
    """Print the effective configuration, secrets masked."""
    settings = get_settings()
    data, read = masked(settings), config_file(os.environ)
    if as_json:
        emit_json({**data, "config_file": str(read) if read else None})
        return
    for name, value in data.items():
        line = f"INGEST_{name.upper()}={value if value is not None else ''}"
        out.print(line, highlight=False, soft_wrap=True)  # a long value stays on its line
    for line in (
        f"# config file: {read or config_line()}",
        f"# feeds file: {settings.feeds_file}"
        + ("" if settings.feeds_file.is_file() else " (none yet: no feeds subscribed)"),
        f"# store: {store_line(settings)}",
    ):
        out.print(line, highlight=False, soft_wrap=True)


def config_line() -> str:
    """What was looked for when no config file was read."""
    looked = user_config_dir(os.environ) / CONFIG_NAME
    return f"none read (INGEST_CONFIG_FILE unset, no {looked})"


def store_line(settings: Settings) -> str:
    """Which store the commands use: the configured URL, or the embedded one and its server."""
    from worker.core.errors import NoServerBinary
    from worker.runtime.embedded import running_url
    from worker.runtime.serverbin import find_server

    if not settings.embedded:
        return "INGEST_REDIS_URL"
    state = "running" if running_url(settings.data_dir) else "not running"
    try:
        server = str(find_server(settings.embedded_server))
    except NoServerBinary as e:
        server = f"none usable: {e}"
    return f"embedded, in {settings.data_dir} ({state}); server {server}"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per check")
def health(as_json: bool) -> None:
    """Check the store and the broker the workers use; exit 1 if either fails.

    Without INGEST_REDIS_URL the store is the embedded one: healthy while it runs
    (`ingest worker` keeps it up); health does not start it.
    """
    from worker.runtime.health import checks

    results = checks(get_settings())
    for check in results:
        if as_json:
            emit_json({"check": check.name, "target": check.target, "problem": check.problem})
        else:
            err.print(check.line(), highlight=False, markup=False)
    failed = [c.name for c in results if c.problem is not None]
    if failed:
        raise IngestError(f"unhealthy: {' and '.join(failed)}")


@main.command()
@click.option("--host", help="address to bind (default INGEST_API_HOST, 127.0.0.1)")
@click.option("--port", type=click.IntRange(1, 65535), help="default INGEST_API_PORT, 8000")
def serve(host: str | None, port: int | None) -> None:
    """The HTTP API (docs/http-api.md) until stopped; API keys from INGEST_API_KEYS."""
    from worker.api.server import serve as run_server

    settings = get_settings()
    with backend(settings) as url:
        run_server(settings, url, host or settings.api_host, port or settings.api_port)
