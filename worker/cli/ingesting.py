"""``ingest run``, ``ingest enqueue`` and ``ingest worker``: getting inputs processed."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from worker.cli.base import (
    backend,
    cut,
    emit_json,
    err,
    id_column,
    main,
    out,
    plain,
    progress_bar,
    text_column,
)
from worker.core.errors import RunInterrupted
from worker.core.models import Outcome, OutcomeKind
from worker.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from worker.read.client import IngestClient

log = logging.getLogger(__name__)


# -- run / enqueue / worker --------------------------------------------------------------


def input_refs(paths: tuple[str, ...], feeds: tuple[str, ...], report: Any) -> Iterator[Any]:
    """The inputs (producer InputRefs) of ``paths`` and ``feeds``, read lazily.

    A path or feed that cannot be read fails here, before anything is published.
    """
    import itertools

    from worker.queue.inputs import check_paths, expand, expand_feeds

    if not paths and not feeds:
        raise click.UsageError("nothing to enqueue: give files, folders, - or --feed")
    check_paths(paths, feeds)
    return itertools.chain(expand(paths, report), expand_feeds(feeds))


def enqueue_paths(
    url: str,
    settings: Settings,
    paths: tuple[str, ...],
    reply_to: str | None = None,
    feeds: tuple[str, ...] = (),
    report: Any = None,
    refs: Iterable[Any] | None = None,
) -> tuple[Any, Any]:
    """Point the app at ``url``, then read, batch and publish ``paths`` and ``feeds``.

    ``refs``: the inputs already expanded from them. ``report`` (an EnqueueReport) holds
    what the broker accepted, also when this raises.
    """
    import gc

    from worker.queue.app import make_app
    from worker.queue.inputs import EnqueueReport
    from worker.queue.pacing import pacer_for
    from worker.queue.producer import publish
    from worker.storage.store import Store

    report = report if report is not None else EnqueueReport()
    if refs is None:
        refs = input_refs(paths, feeds, report)
    store = Store.from_url(url, settings)
    app = make_app(settings, url)
    # Everything imported so far lives as long as the process: keep the collector from
    # scanning it again and again while a large folder makes garbage (and at exit).
    gc.freeze()
    with progress_bar(None, "enqueue") as advance:
        pacer = pacer_for(settings, url)
        publish(
            app,
            store,
            refs,
            settings,
            reply_to=reply_to,
            report=report,
            progress=advance,
            pacer=pacer,
        )
    return store, report


def tasks_for(refs: list[Any], settings: Settings) -> int:
    """At least how many tasks these inputs make (feed URLs travel alone)."""
    from worker.core.models import InputKind

    urls = sum(1 for r in refs if r.kind == InputKind.FEED_URL)
    return urls + -(-(len(refs) - urls) // settings.batch_size)


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
    from worker.runtime.run import LocalWorker

    # Started first: it imports Celery and the pipeline while this process imports the
    # producer, reads the inputs and starts the store; it learns the store's URL then.
    local = LocalWorker().start()
    try:
        outcomes = run_with(local, paths, feeds, as_json, concurrency, timeout)
    finally:
        local.stop()
    if strict and any(o.outcome is OutcomeKind.REJECTED for o in outcomes):
        sys.exit(1)


def run_with(
    local: Any,
    paths: tuple[str, ...],
    feeds: tuple[str, ...],
    as_json: bool,
    concurrency: int | None,
    timeout: float | None,
) -> list[Outcome]:
    """``ingest run`` with its worker process started: the outcomes, or exit on a signal."""
    from worker.core.signals import interrupting
    from worker.queue.inputs import EnqueueReport

    settings = get_settings()
    report = EnqueueReport()
    # Names only, no file read yet; a bad path fails here, before the store starts.
    refs = list(input_refs(paths, feeds, report))
    try:
        with interrupting():
            return run_locally(local, settings, refs, report, as_json, concurrency, timeout)
    except RunInterrupted as e:
        name = signal.Signals(e.signum).name
        left = "an unknown number of" if e.left is None else str(e.left)
        err.print(
            f"[red]interrupted by {name}:[/] the run's worker is stopped; {left} of its "
            "inputs are left queued (a worker on this store will process them)"
        )
        sys.exit(128 + e.signum)


def run_locally(
    local: Any,
    settings: Settings,
    refs: list[Any],
    report: Any,
    as_json: bool,
    concurrency: int | None,
    timeout: float | None,
) -> list[Outcome]:
    """Start the embedded server if needed, point the run's worker at it, enqueue, wait.

    The worker is stopped before the server. A stop signal (RunInterrupted) stops what
    this run started, on its way out, and counts the run's inputs left queued.
    """
    from worker.read.client import IngestClient
    from worker.runtime import run as runner
    from worker.storage.store import Store

    run_id = runner.new_run_id()
    options = runner.worker_options(settings, run_id, concurrency, tasks_for(refs, settings))
    with backend(settings) as url:
        local.attach(url, options)
        store = Store.from_url(url, settings)
        collector = runner.Collector(store, run_id)
        try:
            enqueue_paths(url, settings, (), reply_to=run_id, report=report, refs=refs)
            with progress_bar(len(report.input_ids), "process") as advance:
                collector.wait(report.input_ids, local.alive, timeout, advance)
            local.interrupt()  # its warm shutdown runs while the outcomes print
            outcomes: list[Outcome] = collector.ordered(report.input_ids)
            show_run(
                outcomes, report.skipped, as_json, IngestClient(store.client, settings.namespace)
            )
        except RunInterrupted as e:
            local.stop()
            raise RunInterrupted(e.signum, collector.left(report.input_ids)) from None
        finally:
            local.stop()  # before the embedded store stops
    return outcomes


def show_run(
    outcomes: list[Outcome], skipped: list[tuple[str, str]], as_json: bool, client: IngestClient
) -> None:
    """Print one line per input (JSON) or a table and the counts."""
    for path, why in skipped:
        err.print("[yellow]skipped[/]", plain(f"{path}: {why}"))
    if as_json:
        for o in outcomes:
            emit_json({"source": o.source, "outcome": o.outcome, "id": o.id, "reason": o.reason})
        return
    table = Table(title="ingest run")
    text_column(table, "source")
    table.add_column("outcome", no_wrap=True)
    id_column(table, "id", [o.id or "" for o in outcomes[:50]])
    text_column(table, "title / reason", ratio=2)
    for o in outcomes[:50]:
        record = client.get(o.id) if o.id and o.outcome is not OutcomeKind.REJECTED else None
        title = record.title if record else (o.reason or "")
        table.add_row(cut(o.source), o.outcome.value, plain(o.id or ""), cut(title))
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
    from worker.core.signals import interrupting
    from worker.queue.inputs import EnqueueReport, check_paths

    settings = get_settings()
    check_paths(paths, feeds)
    report = EnqueueReport()
    try:
        with interrupting(), backend(settings) as url:
            enqueue_paths(url, settings, paths, feeds=feeds, report=report)
    except RunInterrupted as e:  # a publish is never cut in two: the report is exact
        show_enqueued(report, as_json)
        if as_json:
            err.print(f"queued {len(report.input_ids)} inputs in {report.batches} tasks")
        err.print(f"[red]interrupted by {signal.Signals(e.signum).name}:[/] nothing more queued")
        sys.exit(128 + e.signum)
    except Exception:
        if report.input_ids or report.skipped:  # what the broker took before it failed
            show_enqueued(report, as_json)
        raise
    show_enqueued(report, as_json)


def show_enqueued(report: Any, as_json: bool) -> None:
    """The queued inputs (one JSON line each) or a count, and the skipped paths."""
    for path, why in report.skipped:
        err.print("[yellow]skipped[/]", plain(f"{path}: {why}"))
    if as_json:
        for input_id in report.input_ids:
            emit_json(
                {"source": report.sources[input_id], "input_id": input_id, "outcome": "queued"}
            )
    else:
        err.print(f"queued {len(report.input_ids)} inputs in {report.batches} tasks")


class WorkerCommand(click.Command):
    """``ingest worker``: its help lists the options of ``celery worker`` it passes on."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from celery.bin.worker import worker as celery_worker

        with formatter.section("Options of `celery worker` (passed through)"):
            formatter.write_dl(
                [
                    record
                    for param in celery_worker.get_params(ctx)
                    if param.name != "help" and (record := param.get_help_record(ctx))
                ]
            )


@main.command(
    cls=WorkerCommand,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Start a Celery worker; any option of `celery worker` may follow (listed below).

    Without INGEST_REDIS_URL it starts the embedded store and keeps it up while it runs.
    """
    # SIGTERM is Celery's warm shutdown, bounded by INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT
    # (worker.queue.shutdown): running tasks finish or, past it, are requeued.
    from worker.queue.app import make_app

    settings = get_settings()
    with backend(settings) as url:
        app = make_app(settings, url)
        argv = ["worker", "-Q", settings.queue, *ctx.args]
        if not any(a.startswith(("--loglevel", "-l")) for a in ctx.args):
            argv += ["--loglevel", settings.log_level]
        if settings.log_format == "json":
            argv.insert(0, "--quiet")  # celery's global option: the banner is not JSON
        app.worker_main(argv)
