"""Shared pieces of the ``ingest`` command line: the group, consoles, backends, JSON lines."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from worker.core.errors import ConfigError, IngestError
from worker.core.settings import Settings, get_settings
from worker.core.textsafe import escape_controls

if TYPE_CHECKING:  # imported when a command opens one: a command pays for its own imports
    from worker.read.client import IngestClient
    from worker.storage.store import Store

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
    """The Redis URL to use: the configured one, or the user's embedded server's."""
    from worker.runtime.lease import using_store

    with using_store(settings) as url:
        yield url


@contextlib.contextmanager
def opened_client(settings: Settings) -> Iterator[IngestClient]:
    """The read client (worker.read.client), every command's way in to read."""
    from worker.read.client import IngestClient

    with backend(settings) as url:
        yield IngestClient(url, settings.namespace)


@contextlib.contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The store (worker.storage.store), for the commands that write."""
    from worker.storage.store import Store

    with backend(settings) as url:
        yield Store.from_url(url, settings)


def id_column(table: Table, header: str, ids: list[str]) -> None:
    """A column that is never cut: an id shown must work when pasted back."""
    table.add_column(header, no_wrap=True, min_width=max(map(len, ids), default=len(header)))


def text_column(table: Table, header: str, *, ratio: int = 1) -> None:
    """A column that gives way first on a narrow terminal; fill it with :func:`cut`."""
    table.add_column(header, ratio=ratio, overflow="ellipsis")


def cut(value: object) -> Text:
    """One line of a text column (as :func:`plain`), cut with an ellipsis where it ends."""
    text = plain(value)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


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


# Each command's module, imported only when the command runs (or help lists it): a
# command pays for its own imports, not for every other command's.
COMMAND_MODULES = {
    **dict.fromkeys(("run", "enqueue", "worker"), "worker.cli.ingesting"),
    **dict.fromkeys(
        ("stats", "prune", "metrics", "schema", "config", "health", "serve"),
        "worker.cli.operating",
    ),
    **dict.fromkeys(("records", "rejections"), "worker.cli.reading"),
    "feeds": "worker.cli.feeds",
}


class IngestGroup(click.Group):
    """Loads a command's module on first use; every error is one line and a non-zero exit.

    ``--debug`` shows the traceback. A bad setting exits 2, any other error 1, Ctrl-C 130.
    Click's own usage errors keep their usual message; a bug (an exception we did not raise
    on purpose) says so and points to ``--debug``.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            # Registers its commands. __import__, not importlib.import_module: the import
            # statement's path, which `python -X importtime` logs.
            __import__(COMMAND_MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)
        except Exception as e:
            if ctx.params.get("debug"):
                debug_traceback(e)
            fail(e)


def debug_traceback(error: Exception) -> NoReturn:
    """``--debug``: the traceback of ``error``, its URL passwords masked, and exit non-zero."""
    import traceback

    from worker.core.logs import redact

    sys.stderr.write(redact("".join(traceback.format_exception(error))))
    sys.exit(2 if isinstance(error, ConfigError) else 1)


def fail(error: Exception) -> NoReturn:
    """Print ``error`` as one line on stderr and exit non-zero.

    Our own errors are worded to be shown; another library's message may quote a URL, so
    its passwords are masked.
    """
    from worker.core.logs import redact

    text = plain(" ".join(str(error).split()))
    if isinstance(error, ConfigError):
        err.print("[red]configuration error:[/]", text, highlight=False)
        sys.exit(2)
    if isinstance(error, IngestError):
        err.print("[red]error:[/]", text, highlight=False)
        sys.exit(1)
    text = plain(redact(" ".join(str(error).split())))
    hint = "(run `ingest --debug ...` for the traceback)"
    err.print(f"[red]unexpected error:[/] {type(error).__name__}:", text, hint, highlight=False)
    sys.exit(1)


@click.group(cls=IngestGroup)
@click.version_option(package_name="news-ingest-worker")
@click.option("--debug", "-v", "debug", is_flag=True, help="show the traceback of an error")
def main(debug: bool) -> None:
    """Ingest seed documents and RSS/Atom feeds through Celery workers into Redis.

    Without INGEST_REDIS_URL every command uses the embedded store (`ingest config`
    shows where). Start with `ingest run seeds/`.
    """
    from worker.core.logs import setup_logging

    setup_logging(get_settings())
