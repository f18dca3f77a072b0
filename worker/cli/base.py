"""Shared pieces of the ``ingest`` command line: the group, consoles, backends, JSON lines."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.text import Text

from worker.core.errors import ConfigError, IngestError
from worker.core.settings import Settings, get_settings
from worker.core.textsafe import escape_controls

log = logging.getLogger(__name__)
err = Console(stderr=True, soft_wrap=True)
out = Console()


def plain(value: object, *, keep: str = "", style: str = "") -> Text:
    """Stored text for a terminal: never read as rich markup, controls shown as ``\\xNN``.

    Records and rejections written before controls were stripped may still hold them.
    """
    return Text(escape_controls(str(value), keep=keep), style=style)


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
    from worker.runtime.embedded import embedded_redis

    with embedded_redis(settings.data_dir) as url:
        yield url


@contextlib.contextmanager
def opened_client(settings: Settings) -> Iterator[Any]:
    """The read client (worker.read.client) on the configured or embedded Redis."""
    from worker.read.client import IngestClient

    with backend(settings) as url:
        yield IngestClient(url, settings.namespace)


@contextlib.contextmanager
def opened_store(settings: Settings) -> Iterator[Any]:
    from worker.storage.store import Store

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
            err.print("[red]configuration error:[/]", plain(e))
            sys.exit(2)
        except IngestError as e:
            err.print("[red]error:[/]", plain(e))
            sys.exit(1)


@click.group(cls=IngestGroup)
@click.version_option(package_name="news-ingest-worker")
def main() -> None:
    """Ingest seed documents and RSS/Atom feeds through Celery workers into Redis."""
    from worker.core.logs import setup_logging

    setup_logging(get_settings())
