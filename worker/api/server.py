"""``ingest serve``: check the keys and the address, then run the API on uvicorn."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn

from worker.api.app import create_app
from worker.api.auth import Keyring, RateLimiter, check_binding, parse_keys
from worker.api.slowclients import with_header_timeout
from worker.api.state import ApiState
from worker.core.settings import Settings, api_key_lines
from worker.queue.app import make_app
from worker.read.client import IngestClient
from worker.storage.store import Store

log = logging.getLogger(__name__)
GRACE = 5  # seconds open requests get to finish once a stop was asked for
KEEP_ALIVE = 5  # seconds an idle connection stays open between requests


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app at once when a stop is asked for (SIGTERM, Ctrl-C)."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)


def build_state(settings: Settings, url: str) -> ApiState:
    """Keys, store, read client, Celery app and limiter for the API; ConfigError on bad keys."""
    store = Store.from_url(url, settings)
    return ApiState(
        settings=settings,
        store=store,
        reader=IngestClient(store.client, settings.namespace),
        celery=make_app(settings, url),
        keyring=Keyring(parse_keys(api_key_lines(settings))),
        limiter=RateLimiter(settings.api_rate, settings.api_burst),
    )


def serve(settings: Settings, url: str, host: str, port: int) -> None:
    """Serve until SIGTERM or Ctrl-C; ConfigError, before binding, when keys are missing."""
    state = build_state(settings, url)
    check_binding(state.keyring, host)
    if state.keyring.open:
        log.warning("no API keys configured: serving without authentication on %s", host)
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_config=None,  # our logging (INGEST_LOG_FORMAT) handles uvicorn's records too
        timeout_graceful_shutdown=GRACE,
        timeout_keep_alive=KEEP_ALIVE,
        http=with_header_timeout(settings.api_read_timeout),
        server_header=False,
    )
    # uvicorn raises the signal again once it has stopped: end with status 0 then.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    _Server(config, state.stopping).run()
