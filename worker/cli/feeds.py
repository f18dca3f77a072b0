"""``ingest feeds``: subscriptions and their polling state; OPML import and export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from worker.cli.base import emit_json, err, main, opened_store, out, plain
from worker.cli.operating import iso
from worker.core.errors import ConfigError
from worker.core.settings import get_settings
from worker.core.textsafe import redact_query_secrets

TIMES = ("next_poll", "last_claim", "last_attempt", "last_success")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per feed")
@click.pass_context
def feeds(ctx: click.Context, as_json: bool) -> None:
    """Subscribed and fetched feeds with their options and polling state (failures, next poll).

    Options are shown without secrets: auth names its environment variable, headers show
    their names only.
    """
    if ctx.invoked_subcommand is not None:
        return
    from worker.pipeline.feedplan import settings_feeds

    settings = get_settings()
    subs = {s.url: s for s in settings_feeds(settings).feeds}
    with opened_store(settings) as store:
        urls = list(subs) + [u for u in store.feeds.known() if u not in subs]
        states = [store.feeds.state(u) | {"subscribed": u in subs} for u in urls]
    for state in states:
        sub = subs.get(state["url"])
        state["url"] = redact_query_secrets(state["url"])  # fetched as configured, shown masked
        if state["interval"] is None and sub is not None:
            state["interval"] = sub.interval
        for name in TIMES:
            state[name] = iso(state[name])
        state["options"] = describe(sub) if sub is not None else None
    if as_json:
        for state in states:
            emit_json(state)
        return
    _table(states)


def describe(sub: Any) -> dict[str, Any]:
    """A subscription's options as ``ingest feeds`` shows them: never a secret's value."""
    auth = None
    if sub.auth is not None:
        kind = type(sub.auth).__name__.removesuffix("Auth").lower()
        env = getattr(sub.auth, "password_env", None) or getattr(sub.auth, "token_env", "")
        auth = f"{kind} (secret in ${env})"
    return {
        "enabled": sub.enabled,
        "title": sub.title,
        "category": sub.category,
        "headers": sorted(sub.headers),
        "auth": auth,
        "proxy": sub.proxy,
        "keep": sub.keep,
        "block": sub.block,
    }


def _table(states: list[dict[str, Any]]) -> None:
    table = Table("url", "status", "failures", "last success", "next poll", "error")
    for s in states:
        disabled = s["options"] is not None and not s["options"]["enabled"]
        table.add_row(
            plain(s["url"]),
            "disabled" if disabled else s["last_status"] or "never polled",
            str(s["failures"] or 0),
            s["last_success"] or "-",
            s["next_poll"] or "due",
            plain((s["last_error"] or "")[:80]),
        )
    out.print(table)


@feeds.command("import")
@click.argument("opml_file", type=click.Path(dir_okay=False, path_type=Path))
def import_opml(opml_file: Path) -> None:
    """Add an OPML file's feeds to the feeds file (titles and folders kept, duplicates skipped)."""
    from worker.pipeline.feedplan import append_feeds
    from worker.text.opml import parse_opml

    settings = get_settings()
    try:
        data = opml_file.read_bytes()
    except OSError as e:
        raise ConfigError(f"{opml_file}: cannot read it ({e.strerror})") from e
    found = parse_opml(data)
    added, skipped = append_feeds(settings.feeds_file, found, settings.feed_interval)
    err.print(f"added {added} feeds to {settings.feeds_file}, skipped {skipped} already there")


@feeds.command("export")
def export_opml() -> None:
    """Write the subscriptions as OPML 2.0 to stdout."""
    from worker.pipeline.feedplan import as_opml, settings_feeds
    from worker.text.opml import export_opml as to_opml

    settings = get_settings()
    subs = settings_feeds(settings).feeds
    sys.stdout.buffer.write(to_opml(as_opml(subs), "news-ingest-worker subscriptions"))
    sys.stdout.flush()
