"""The ``ingest`` command line. List commands take ``--json``: one object per line on stdout."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from worker.errors import ConfigError, IngestError
from worker.models import Outcome, OutcomeKind, Record
from worker.settings import Settings, get_settings, masked

log = logging.getLogger(__name__)
err = Console(stderr=True, soft_wrap=True)
out = Console()


def emit_json(data: Any) -> None:
    """One JSON object on one line of stdout, flushed at once."""
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def backend(settings: Settings) -> Iterator[str]:
    """The Redis URL to use: the configured one, or the embedded server's."""
    if settings.redis_url:
        yield settings.redis_url
        return
    from worker.embedded import embedded_redis

    with embedded_redis(settings.data_dir) as url:
        yield url


@contextlib.contextmanager
def opened_client(settings: Settings) -> Iterator[Any]:
    """The read client (worker.client) on the configured or embedded Redis."""
    from worker.client import IngestClient

    with backend(settings) as url:
        yield IngestClient(url, settings.namespace)


@contextlib.contextmanager
def opened_store(settings: Settings) -> Iterator[Any]:
    from worker.store import Store

    with backend(settings) as url:
        yield Store.from_url(url, settings)


def progress_bar(
    total: int | None, label: str
) -> contextlib.AbstractContextManager[Callable[[int], None] | None]:
    """A rich progress bar on a terminal; nothing when stderr is not one."""

    @contextlib.contextmanager
    def bar() -> Iterator[Callable[[int], None] | None]:
        if not err.is_terminal:
            yield None
            return
        with Progress(console=err, transient=True) as prog:
            task = prog.add_task(label, total=total)
            yield lambda n: prog.advance(task, n)

    return bar()


class IngestGroup(click.Group):
    """Turns the package's errors into one clean line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            err.print(f"[red]configuration error:[/] {e}")
            sys.exit(2)
        except IngestError as e:
            err.print(f"[red]error:[/] {e}")
            sys.exit(1)


@click.group(cls=IngestGroup)
@click.version_option(package_name="news-ingest-worker")
def main() -> None:
    """Ingest seed documents and RSS/Atom feeds through Celery workers into Redis."""
    from worker.logs import setup_logging

    setup_logging(get_settings())


# -- run / enqueue / worker --------------------------------------------------------------


def enqueue_paths(
    url: str,
    settings: Settings,
    paths: tuple[str, ...],
    reply_to: str | None = None,
    feeds: tuple[str, ...] = (),
    report: Any = None,
) -> tuple[Any, Any]:
    """Point the app at ``url``, then read, batch and publish ``paths`` and ``feeds``.

    ``report`` (an EnqueueReport) holds what the broker accepted, also when this raises.
    """
    import itertools

    from worker.app import app, configure
    from worker.producer import EnqueueReport, expand, expand_feeds, publish
    from worker.store import Store

    if not paths and not feeds:
        raise click.UsageError("nothing to enqueue: give files, folders, - or --feed")
    store = Store.from_url(url, settings)
    configure(url, settings)
    report = report if report is not None else EnqueueReport()
    with progress_bar(None, "enqueue") as advance:
        publish(
            app,
            store,
            itertools.chain(expand(paths, report), expand_feeds(feeds)),
            settings,
            reply_to=reply_to,
            report=report,
            progress=advance,
        )
    return store, report


FEED_OPTION = click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="URL_OR_FILE",
    help="an RSS/Atom feed: a URL (fetched by a worker) or a local file (repeatable)",
)


@main.command()
@click.argument("paths", nargs=-1, type=str)
@FEED_OPTION
@click.option("--json", "as_json", is_flag=True, help="one JSON line per input")
@click.option("--strict", is_flag=True, help="exit 1 when any input was rejected")
@click.option("--concurrency", type=click.IntRange(min=1), help="worker processes")
@click.option("--timeout", type=click.FloatRange(min=1), help="give up after this many seconds")
def run(
    paths: tuple[str, ...],
    feeds: tuple[str, ...],
    as_json: bool,
    strict: bool,
    concurrency: int | None,
    timeout: float | None,
) -> None:
    """Enqueue PATHS and feeds, process them with a local worker, wait, print a summary.

    A feed prints one line per entry, or one line when it fails as a whole or is not
    modified since the last fetch.
    """
    from worker import runner

    settings = get_settings()
    with backend(settings) as url:
        run_id = runner.new_run_id()
        local = runner.LocalWorker(
            runner.worker_command(settings, run_id, concurrency), runner.worker_env(url)
        ).start()
        try:
            store, report = enqueue_paths(url, settings, paths, reply_to=run_id, feeds=feeds)
            collector = runner.Collector(store, run_id)
            with progress_bar(len(report.input_ids), "process") as advance:
                collector.wait(report.input_ids, local.alive, timeout, advance)
        finally:
            local.stop()
        outcomes = collector.ordered(report.input_ids)
        show_run(outcomes, report.skipped, as_json, store)
    if strict and any(o.outcome is OutcomeKind.REJECTED for o in outcomes):
        sys.exit(1)


def show_run(
    outcomes: list[Outcome], skipped: list[tuple[str, str]], as_json: bool, store: Any
) -> None:
    """Print one line per input (JSON) or a table and the counts."""
    for path, why in skipped:
        err.print(f"[yellow]skipped[/] {path}: {why}")
    if as_json:
        for o in outcomes:
            emit_json({"source": o.source, "outcome": o.outcome, "id": o.id, "reason": o.reason})
        return
    table = Table("source", "outcome", "id", "title / reason", title="ingest run")
    for o in outcomes[:50]:
        record = store.get(o.id) if o.id and o.outcome is not OutcomeKind.REJECTED else None
        table.add_row(
            o.source, o.outcome.value, o.id or "", record.title if record else (o.reason or "")
        )
    out.print(table)
    if len(outcomes) > 50:
        out.print(f"... and {len(outcomes) - 50} more")
    counts = {k.value: sum(o.outcome is k for o in outcomes) for k in OutcomeKind}
    out.print(f"{len(outcomes)} inputs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@main.command()
@click.argument("paths", nargs=-1, type=str)
@FEED_OPTION
@click.option("--json", "as_json", is_flag=True, help="one JSON line per queued input")
def enqueue(paths: tuple[str, ...], feeds: tuple[str, ...], as_json: bool) -> None:
    """Enqueue PATHS (files, folders, - for stdin) and feeds for the workers and return.

    If the broker fails part way, the inputs it accepted are still reported, then the
    command fails: what it prints as queued is exactly what is queued.
    """
    from worker.producer import EnqueueReport

    settings = get_settings()
    report = EnqueueReport()
    try:
        with backend(settings) as url:
            enqueue_paths(url, settings, paths, feeds=feeds, report=report)
    finally:
        show_enqueued(report, as_json)


def show_enqueued(report: Any, as_json: bool) -> None:
    """The queued inputs (one JSON line each) or a count, and the skipped paths."""
    for path, why in report.skipped:
        err.print(f"[yellow]skipped[/] {path}: {why}")
    if as_json:
        for input_id in report.input_ids:
            emit_json(
                {"source": report.sources[input_id], "input_id": input_id, "outcome": "queued"}
            )
    else:
        err.print(f"queued {len(report.input_ids)} inputs in {report.batches} tasks")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Start a Celery worker (extra arguments go to `celery worker`)."""
    # Celery's switch, read when billiard is imported (below): SIGTERM starts the soft
    # shutdown (running tasks get INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT, then are requeued).
    # An explicit REMAP_SIGTERM= (empty) keeps Celery's plain warm shutdown.
    os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")
    from worker.app import app, configure

    settings = get_settings()
    with backend(settings) as url:
        configure(url, settings)
        argv = ["worker", "-Q", settings.queue, *ctx.args]
        if not any(a.startswith(("--loglevel", "-l")) for a in ctx.args):
            argv += ["--loglevel", settings.log_level]
        if settings.log_format == "json":
            argv.insert(0, "--quiet")  # celery's global option: the banner is not JSON
        app.worker_main(argv)


# -- reading ------------------------------------------------------------------------------


def parse_when(value: str | None, *, end_of_day: bool) -> datetime | None:
    """An ISO date or datetime (naive means UTC); a date-only ``--until`` includes the day."""
    from worker.client import to_bound

    try:
        return to_bound(value, end_of_day=end_of_day)
    except ValueError as e:
        raise click.BadParameter(f"not an ISO date or datetime: {value!r}") from e


@main.group()
def records() -> None:
    """Read stored records."""


@records.command("list")
@click.option("--since", help="published at or after (ISO date or datetime)")
@click.option("--until", help="published at or before (a date includes the whole day)")
@click.option("--source", help="exact source: a seed file name or a feed URL")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="at most this many records (0: all)",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON record per line")
def records_list(
    since: str | None, until: str | None, source: str | None, limit: int, as_json: bool
) -> None:
    """Records, newest first by published date."""
    settings = get_settings()
    start, end = parse_when(since, end_of_day=False), parse_when(until, end_of_day=True)
    with opened_store(settings) as store:
        found = store.records(since=start, until=end, source=source, limit=limit or None)
        if as_json:
            for rec in found:
                emit_json(rec.model_dump(mode="json", exclude_none=False))
            return
        table = Table("published", "id", "source", "title", "v")
        for rec in found:
            table.add_row(_when(rec), rec.id, rec.source, rec.title, str(rec.version))
        out.print(table)


def _when(rec: Record) -> str:
    return rec.published.date().isoformat() if rec.published else "-"


@records.command("show")
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="the record as JSON")
def records_show(record_id: str, as_json: bool) -> None:
    """One record by id."""
    with opened_store(get_settings()) as store:
        rec = store.get(record_id)
    if rec is None:
        err.print(f"no record {record_id}")
        sys.exit(1)
    if as_json:
        emit_json(rec.model_dump(mode="json"))
        return
    out.print(f"[bold]{rec.title}[/]")
    out.print(
        f"{rec.id} · {rec.source} · published {_when(rec)} · v{rec.version} · "
        f"{rec.word_count} words"
    )
    out.print()
    out.print(rec.text, soft_wrap=False)


def tail_options(func: Callable[..., None]) -> Callable[..., None]:
    """The options shared by `records tail` and `rejections tail`."""
    options = [
        click.option("--group", help="consumer group: acknowledge each event once printed"),
        click.option("--consumer", help="consumer name in the group (default: the host name)"),
        click.option("--new", is_flag=True, help="without --group: only events from now on"),
        click.option("--limit", type=click.IntRange(min=1), help="stop after this many events"),
        click.option("--json", "as_json", is_flag=True, help="one JSON event per line"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_tail(stream: str, group: str | None, consumer: str | None, new: bool, **kw: Any) -> None:
    from worker.tail import Tail

    if new and group:
        raise click.UsageError("--new is for a tail without --group (a group resumes)")
    settings = get_settings()
    with opened_client(settings) as client:
        tail = Tail(client, settings, stream, kw["as_json"], kw["limit"])
        if group:
            tail.consume(group, consumer)
        else:
            tail.follow(new=new)


@records.command("tail")
@tail_options
def records_tail(group: str | None, consumer: str | None, new: bool, **kw: Any) -> None:
    """Follow the record events (created / updated), printing each as it arrives."""
    run_tail("records", group, consumer, new, **kw)


@main.group()
def rejections() -> None:
    """Read rejected inputs."""


@rejections.command("tail")
@tail_options
def rejections_tail(group: str | None, consumer: str | None, new: bool, **kw: Any) -> None:
    """Follow the rejection events, printing each as it arrives."""
    run_tail("rejections", group, consumer, new, **kw)


def rejection_filters(func: Callable[..., None]) -> Callable[..., None]:
    """The filters shared by `rejections list` and `rejections replay`."""
    options = [
        click.option("--reason", help="a reason code (seed.bad_date) or family (seed)"),
        click.option("--source", help="exact source"),
        click.option("--since", help="rejected at or after (ISO date or datetime)"),
        click.option("--until", help="rejected at or before (a date includes the whole day)"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def find_rejections(client: Any, limit: int | None, **filters: str | None) -> Iterator[Any]:
    since = parse_when(filters.pop("since"), end_of_day=False)
    until = parse_when(filters.pop("until"), end_of_day=True)
    return client.rejections(since=since, until=until, limit=limit, **filters)  # type: ignore[no-any-return]


@rejections.command("list")
@rejection_filters
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON rejection per line")
def rejections_list(limit: int, as_json: bool, **filters: str | None) -> None:
    """Rejected inputs with their reason codes, newest first."""
    with opened_client(get_settings()) as client:
        found = list(find_rejections(client, limit or None, **filters))
        replayed = client.replayed_as([r.input_id for r in found])
    if as_json:
        for rej in found:
            emit_json({**rej.model_dump(mode="json"), "replayed_as": replayed.get(rej.input_id)})
        return
    table = Table("rejected at", "source", "reason", "detail")
    for rej in found:
        table.add_row(
            rej.rejected_at.isoformat(timespec="seconds"), rej.source, rej.reason, rej.detail[:120]
        )
    out.print(table)


@rejections.command("replay")
@click.argument("input_ids", nargs=-1)
@rejection_filters
@click.option("--all", "every", is_flag=True, help="every rejection (with no IDs or filters)")
@click.option("--again", is_flag=True, help="include rejections that were already replayed")
@click.option("--json", "as_json", is_flag=True, help="one JSON line per selected rejection")
def rejections_replay(
    input_ids: tuple[str, ...], every: bool, again: bool, as_json: bool, **filters: str | None
) -> None:
    """Re-enqueue the original input of rejections (by input id or filters) as new inputs."""
    from worker import replay
    from worker.app import app, configure
    from worker.store import Store

    if not (input_ids or every or any(filters.values())):
        raise click.UsageError("say which rejections: input ids, a filter, or --all")
    settings = get_settings()
    with backend(settings) as url:
        store = Store.from_url(url, settings)
        configure(url, settings)
        if input_ids:
            selected: list[Any] = replay.by_ids(store.reader, input_ids)
        else:
            found = find_rejections(store.reader, None, **filters)
            selected = list(found) if again else replay.unreplayed(store.reader, found)
        results = replay.replay(app, store, selected, settings)
    for r in results:
        if as_json:
            emit_json(r.to_json())
        elif r.skipped:
            err.print(f"[yellow]skipped[/] {r.input_id}: {r.skipped}")
    if not as_json:
        done = sum(r.replayed_as is not None for r in results)
        err.print(f"replayed {done} of {len(results)} rejections as new inputs")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def stats(as_json: bool) -> None:
    """Live counts: records, updates, duplicates, rejections, queued."""
    from dataclasses import asdict

    from worker.app import app, configure
    from worker.events import STREAMS
    from worker.metrics import queue_depth
    from worker.store import Store

    settings = get_settings()
    with backend(settings) as url:
        store = Store.from_url(url, settings)
        counts: dict[str, Any] = store.stats()
        configure(url, settings)
        counts["queue_depth"] = queue_depth(app, settings.queue)
        counts["rejections_by_reason"] = store.rejection_reasons()
        groups = [g for name in STREAMS for g in store.reader.groups(name)]
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
    from worker.retention import prune as apply_retention

    with opened_store(get_settings()) as store:
        report = apply_retention(store)
    if as_json:
        emit_json({"records": report.records, "events": report.events})
        return
    trimmed = sum(report.events.values())
    out.print(f"pruned {report.records} records, trimmed {trimmed} stream entries")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per feed")
def feeds(as_json: bool) -> None:
    """Subscribed and fetched feeds with their polling state (failures, next poll)."""
    from worker.feedpoll import FeedSchedule, iso, load_subscriptions

    settings = get_settings()
    subs = {s.url: s for s in load_subscriptions(settings.feeds_file, settings.feed_interval)}
    with opened_store(settings) as store:
        schedule = FeedSchedule(store.client, settings)
        urls = list(subs) + [u for u in schedule.known() if u not in subs]
        states = [schedule.state(u) | {"subscribed": u in subs} for u in urls]
    for state in states:
        if state["interval"] is None and state["url"] in subs:
            state["interval"] = subs[state["url"]].interval
        for name in ("next_poll", "last_claim", "last_attempt", "last_success"):
            state[name] = iso(state[name])
    if as_json:
        for state in states:
            emit_json(state)
        return
    table = Table("url", "status", "failures", "last success", "next poll", "error")
    for s in states:
        table.add_row(
            s["url"],
            s["last_status"] or "never polled",
            str(s["failures"] or 0),
            s["last_success"] or "-",
            s["next_poll"] or "due",
            (s["last_error"] or "")[:80],
        )
    out.print(table)


@main.command()
@click.option("--serve", is_flag=True, help="serve GET /metrics until stopped")
@click.option("--host", help="address to bind (default INGEST_METRICS_HOST)")
@click.option("--port", type=click.IntRange(1, 65535), help="default INGEST_METRICS_PORT")
def metrics(serve: bool, host: str | None, port: int | None) -> None:
    """Prometheus metrics: counters by outcome and reason, queue depth (once, or --serve)."""
    from worker.app import app, configure
    from worker.metrics import exposition
    from worker.metrics import serve as http_server
    from worker.store import Store

    settings = get_settings()
    with backend(settings) as url:
        store = Store.from_url(url, settings)
        configure(url, settings)
        if not serve:
            sys.stdout.write(exposition(store, app, settings.queue))
            return
        server = http_server(
            host or settings.metrics_host,
            port or settings.metrics_port,
            lambda: exposition(store, app, settings.queue),
        )
        # SIGTERM (docker stop) ends serve_forever cleanly, like Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        log.info("serving metrics on %s:%d/metrics", *server.server_address[:2])
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


@main.command()
def schema() -> None:
    """Print the JSON Schema of a record (schema version 1)."""
    from worker.schema import record_schema

    sys.stdout.write(orjson.dumps(record_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def show_config(as_json: bool) -> None:
    """Print the effective configuration, secrets masked."""
    data = masked(get_settings())
    if as_json:
        emit_json(data)
        return
    for name, value in data.items():
        out.print(f"INGEST_{name.upper()}={value if value is not None else ''}", highlight=False)


@main.command()
def health() -> None:
    """Exit 0 when the settings are valid and the store and broker answer (healthchecks)."""
    from worker.app import app, configure
    from worker.metrics import queue_depth
    from worker.store import Store

    settings = get_settings()
    if settings.redis_url is None:
        err.print("no INGEST_REDIS_URL: the embedded Redis starts on demand, nothing to check")
        return
    Store.from_url(settings.redis_url, settings).wait_ready(timeout=2)
    configure(settings.redis_url, settings)
    if queue_depth(app, settings.queue) is None:
        raise IngestError("broker unreachable")
    err.print("ok")
