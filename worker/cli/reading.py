"""``ingest records ...`` and ``ingest rejections ...``: reading what was stored."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from worker.cli.base import (
    backend,
    counted,
    emit_json,
    err,
    id_column,
    main,
    opened_client,
    out,
    plain,
    show,
    text_column,
)
from worker.core.errors import InputError, Reason
from worker.core.models import Record, Rejection
from worker.core.settings import get_settings

if TYPE_CHECKING:
    from worker.read.client import IngestClient

log = logging.getLogger(__name__)


# -- reading ------------------------------------------------------------------------------


def parse_when(value: str | None, *, end_of_day: bool) -> datetime | None:
    """An ISO date or datetime (naive means UTC); a date-only ``--until`` includes the day."""
    from worker.read.client import to_bound

    try:
        return to_bound(value, end_of_day=end_of_day)
    except ValueError as e:
        raise click.BadParameter(f"not an ISO date or datetime: {value!r}") from e


def limit_option(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--limit`` of the list commands: at most N items, newest first (0: all)."""
    return click.option(
        "--limit",
        type=click.IntRange(min=0),
        default=100,
        show_default=True,
        help=f"at most this many {what} (0: all)",
    )


@main.group()
def records() -> None:
    """Read stored records."""


@records.command("list")
@click.option("--since", help="published at or after (ISO date or datetime)")
@click.option("--until", help="published at or before (a date includes the whole day)")
@click.option("--source", help="exact source: a seed file name or a feed URL")
@click.option("--cluster", help="a near-duplicate cluster: the records whose cluster is this id")
@limit_option("records")
@click.option("--json", "as_json", is_flag=True, help="one JSON record per line")
def records_list(
    since: str | None,
    until: str | None,
    source: str | None,
    cluster: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Records, newest first by published date."""
    settings = get_settings()
    start, end = parse_when(since, end_of_day=False), parse_when(until, end_of_day=True)
    with opened_client(settings) as client:
        found = client.records(
            since=start, until=end, source=source, cluster=cluster, limit=limit or None
        )
        if as_json:
            for rec in found:
                emit_json(rec.model_dump(mode="json", exclude_none=False))
            return
        shown = list(found)
        table = Table()
        table.add_column("published", no_wrap=True)
        id_column(table, "id", [rec.id for rec in shown])
        text_column(table, "source")
        text_column(table, "title", ratio=3)
        table.add_column("v", no_wrap=True)
        for rec in shown:
            table.add_row(
                _when(rec), plain(rec.id), plain(rec.source), plain(rec.title), str(rec.version)
            )
        show(table)


def _when(rec: Record) -> str:
    return rec.published.date().isoformat() if rec.published else "-"


@records.command("show")
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="the record as JSON")
def records_show(record_id: str, as_json: bool) -> None:
    """One record by id."""
    with opened_client(get_settings()) as client:
        rec = client.get(record_id)
    if rec is None:
        err.print(plain(f"no record {record_id}"))
        sys.exit(1)
    if as_json:
        emit_json(rec.model_dump(mode="json"))
        return
    out.print(plain(rec.title, style="bold"))
    out.print(
        plain(
            f"{rec.id} · {rec.source} · published {_when(rec)} · v{rec.version} · "
            f"{counted(rec.word_count, 'word')}"
        )
    )
    for medium in rec.media or ():
        kind = " ".join(str(v) for v in (medium.type, medium.length) if v is not None)
        out.print(plain(f"media: {medium.url}" + (f" ({kind})" if kind else "")))
    for seen in rec.seen_in or ():
        out.print(plain(f"seen in: {seen.source}" + (f" {seen.url}" if seen.url else "")))
    out.print()
    out.print(plain(rec.text, keep="\n"), soft_wrap=False)


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
    from worker.read.tail import Tail

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


def known_reason(reason: str | None) -> None:
    """InputError for a ``--reason`` that is no code nor family, naming the closest codes."""
    import difflib

    codes = sorted(code.value for code in Reason)
    if reason is None or reason in codes or reason in {c.partition(".")[0] for c in codes}:
        return
    near = difflib.get_close_matches(reason, codes, n=3, cutoff=0.5)
    hint = f"; closest: {', '.join(near)}" if near else " (docs/reasons.md lists them)"
    raise InputError(f"--reason {reason!r} is no reason code{hint}")


def find_rejections(
    client: IngestClient, limit: int | None, **filters: str | None
) -> Iterator[Rejection]:
    known_reason(filters["reason"])
    since = parse_when(filters.pop("since"), end_of_day=False)
    until = parse_when(filters.pop("until"), end_of_day=True)
    return client.rejections(
        since=since, until=until, limit=limit, reason=filters["reason"], source=filters["source"]
    )


@rejections.command("list")
@rejection_filters
@limit_option("rejections")
@click.option("--json", "as_json", is_flag=True, help="one JSON rejection per line")
def rejections_list(limit: int, as_json: bool, **filters: str | None) -> None:
    """Rejected inputs with their reason codes, newest first."""
    with opened_client(get_settings()) as client:
        found = list(find_rejections(client, limit or None, **filters))
        replayed = client.replayed_as([r.input_id for r in found])
        kept = {r.input_id: client.kept_bytes(r.input_id) for r in found if is_message(r)}
    if as_json:
        for rej in found:
            line = {**rej.model_dump(mode="json"), "replayed_as": replayed.get(rej.input_id)}
            if rej.input_id in kept:  # a malformed queue message: its raw bytes, in base64
                line["message_base64"] = base64.b64encode(kept[rej.input_id] or b"").decode()
            emit_json(line)
        return
    table = Table()
    table.add_column("rejected", no_wrap=True)
    id_column(table, "input id (for replay)", [rej.input_id for rej in found])
    id_column(table, "reason", [rej.reason for rej in found])
    text_column(table, "source · detail")
    for rej in found:
        when = rej.rejected_at.date().isoformat()  # the time: --json
        row = (plain(rej.input_id), plain(rej.reason), plain(f"{rej.source} · {rej.detail}"))
        table.add_row(when, *row)
    show(table)


def is_message(rej: Rejection) -> bool:
    """A malformed queue message, whose raw bytes are kept with its rejection."""
    return rej.reason == Reason.INPUT_MALFORMED_MESSAGE


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
    from worker.queue import replay
    from worker.queue.app import make_app
    from worker.read.client import IngestClient
    from worker.storage.store import Store

    if not (input_ids or every or any(filters.values())):
        raise click.UsageError("say which rejections: input ids, a filter, or --all")
    settings = get_settings()
    with backend(settings) as url:
        store = Store.from_url(url, settings)
        client = IngestClient(store.client, settings.namespace)
        app = make_app(settings, url)
        selected: Sequence[Rejection | str]
        if input_ids:
            selected = replay.by_ids(client, input_ids)
            unknown = [i for i in selected if isinstance(i, str)]
            if unknown:
                raise InputError(
                    f"no rejection with input id {', '.join(unknown)}: nothing replayed"
                )
        else:
            found = find_rejections(client, None, **filters)
            selected = list(found) if again else replay.unreplayed(client, found)
        results = replay.replay(app, store, selected, settings)
    for r in results:
        if as_json:
            emit_json(r.to_json())
        elif r.skipped:
            err.print("[yellow]skipped[/]", plain(f"{r.input_id}: {r.skipped}"))
    if not as_json:
        done = sum(r.replayed_as is not None for r in results)
        err.print(f"replayed {done} of {counted(len(results), 'rejection')} as new inputs")
