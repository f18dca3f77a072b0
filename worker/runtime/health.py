"""``ingest health``: does the store answer, and does the broker the workers would use?

Each check is reported on its own, so an operator sees which one failed. With no
``INGEST_REDIS_URL`` the store is the embedded server: it is healthy while it runs (an
``ingest worker`` or ``ingest run`` keeps it up); health never starts one, since a check
that starts the thing it checks always passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.core.errors import IngestError
from worker.core.settings import Settings, mask_url
from worker.queue.app import make_app
from worker.queue.brokerprobe import broker_problem
from worker.runtime.embedded import running_url
from worker.storage.store import Store

NOT_RUNNING = "the embedded store is not running (start it with `ingest worker`)"


@dataclass(frozen=True)
class Check:
    """One thing checked: what, where (password masked), and the problem if any."""

    name: str
    target: str
    problem: str | None = None

    def line(self) -> str:
        state = "ok" if self.problem is None else f"FAILED: {self.problem}"
        return f"{self.name} {self.target}: {state}"


def checks(settings: Settings) -> list[Check]:
    """The store's check, then the broker's."""
    store_url = settings.redis_url or running_url(settings.data_dir)
    where = "embedded" if settings.redis_url is None else ""
    broker_url = settings.broker_for(store_url) if store_url else settings.broker_url
    return [
        store_check(settings, store_url, where),
        broker_check(settings, broker_url, store_url, where if not settings.broker_url else ""),
    ]


def store_check(settings: Settings, url: str | None, where: str) -> Check:
    if url is None:
        return Check("store", f"embedded ({settings.data_dir})", NOT_RUNNING)
    target = f"{where} {mask_url(url)}".strip()
    try:
        Store.from_url(url, settings).wait_ready(timeout=2)
    except IngestError as e:
        return Check("store", target, str(e))
    return Check("store", target)


def broker_check(settings: Settings, url: str | None, store_url: str | None, where: str) -> Check:
    if url is None:
        return Check("broker", "embedded (the store)", NOT_RUNNING)
    target = f"{where} {mask_url(url)}".strip()
    app = make_app(settings, store_url or url)
    try:
        return Check("broker", target, broker_problem(app))
    finally:
        app.close()
