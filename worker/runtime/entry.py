"""The process-wide app for ``celery -A worker`` (``worker.celery``), built on first use.

Commands of the ``ingest`` CLI build their own app from the store they opened; this is
for Celery's own command line, which finds an app by attribute. With no
``INGEST_REDIS_URL``, the app uses the embedded server only when one is running (``ingest
worker`` or ``ingest run`` starts it); it never falls back to a Redis nobody configured.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from worker.core.errors import ConfigError
from worker.core.secrets import GENERATE_SECRET, is_placeholder
from worker.core.settings import Settings, get_settings
from worker.queue.app import make_app
from worker.queue.base import IngestApp
from worker.runtime.embedded import running_url


def store_url(settings: Settings) -> str:
    """The configured store, else the running embedded server's; ConfigError if neither."""
    url = settings.redis_url or running_url(settings.data_dir)
    if url is None:
        raise ConfigError(
            "no store: set INGEST_REDIS_URL, or start the embedded one with `ingest worker`"
        )
    return url


FLOWER_AUTH_FILE = "FLOWER_BASIC_AUTH_FILE"


def flower_auth_from_file(environ: MutableMapping[str, str]) -> None:
    """Flower's basic auth from the file ``FLOWER_BASIC_AUTH_FILE`` names (a compose secret).

    Sets ``FLOWER_BASIC_AUTH`` in this process only, before Flower reads its options, and
    drops the ``_FILE`` variable, which Flower would take for an option it does not know.
    """
    named = environ.pop(FLOWER_AUTH_FILE, "")
    if not named:
        return
    try:
        pairs = Path(named).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{FLOWER_AUTH_FILE}: cannot read {named}: {e.__class__.__name__}"
        ) from None
    if not pairs or not all(":" in pair for pair in pairs):
        raise ConfigError(f"{FLOWER_AUTH_FILE}: {named} must hold user:password")
    environ["FLOWER_BASIC_AUTH"] = ",".join(pairs)


def check_flower_auth(environ: Mapping[str, str]) -> None:
    """ConfigError when Flower's basic auth (``FLOWER_BASIC_AUTH``) has a placeholder password."""
    for pair in environ.get("FLOWER_BASIC_AUTH", "").split(","):
        if is_placeholder(pair.partition(":")[2]):
            raise ConfigError(
                f"FLOWER_BASIC_AUTH: its password is a placeholder of an example: {GENERATE_SECRET}"
            )


@functools.cache
def celery_app() -> IngestApp:
    """The app of this process, from the settings and the store they name.

    A bad setting (or a placeholder secret, Flower's included) ends the process with one
    line and exit code 2, before Celery starts: Celery would print a traceback.
    """
    try:
        flower_auth_from_file(os.environ)
        check_flower_auth(os.environ)
        settings = get_settings()
        return make_app(settings, store_url(settings))
    except ConfigError as e:
        sys.stderr.write(f"configuration error: {e}\n")
        raise SystemExit(2) from e
