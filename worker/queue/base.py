"""The app class every queue module types against: Celery plus the settings and the Store."""

from __future__ import annotations

import os

from celery import Celery

from worker.core.settings import Settings
from worker.storage.store import Store


class IngestApp(Celery):
    """A Celery app with the settings it was made from and this process's Store."""

    def __init__(self, settings: Settings, store_url: str) -> None:
        super().__init__("worker", set_as_current=False)
        self.settings = settings
        self.store_url = store_url
        self._store: tuple[int, Store] | None = None

    def store(self) -> Store:
        """This process's Store (made anew after a fork: connections are not shared)."""
        if self._store is None or self._store[0] != os.getpid():
            self._store = (os.getpid(), Store.from_url(self.store_url, self.settings))
        return self._store[1]
