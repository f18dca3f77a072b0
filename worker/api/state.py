"""What every request handler shares, and the key checks that guard the routes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.api.auth import ANONYMOUS, ApiKey, Keyring, RateLimiter, retry_after
from worker.api.errors import ApiReason
from worker.core.errors import RequestRefused
from worker.core.settings import Settings
from worker.read.client import IngestClient
from worker.storage.store import Store

bearer = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer KEY")
ANONYMOUS_KEY = ApiKey(b"", can_write=True, name=ANONYMOUS)


class Slots:
    """How many of something are open, against a cap given at each take."""

    def __init__(self) -> None:
        self.open = 0
        self._lock = threading.Lock()

    def take(self, cap: int) -> bool:
        """Open one if fewer than ``cap`` are; False (nothing taken) otherwise."""
        with self._lock:
            if self.open >= cap:
                return False
            self.open += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.open -= 1


@dataclass
class ApiState:
    """The settings, the store, the read client, the Celery app, the keys and the limiter.

    ``stopping`` is set when the server begins to shut down: event streams and long
    polls end at once instead of holding the shutdown up.
    """

    settings: Settings
    store: Store
    reader: IngestClient
    celery: Celery
    keyring: Keyring
    limiter: RateLimiter
    stopping: threading.Event = field(default_factory=threading.Event)
    streams: Slots = field(default_factory=Slots)


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.ingest
    return state


State = Annotated[ApiState, Depends(state_of)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def _authenticate(state: ApiState, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    """The caller's key (anonymous when none are configured), charged one request."""
    if state.keyring.open:
        key = ANONYMOUS_KEY
    elif credentials is None:
        raise RequestRefused(
            401,
            ApiReason.AUTH_MISSING,
            "send an API key: Authorization: Bearer KEY",
            headers={"WWW-Authenticate": "Bearer"},
        )
    else:
        found = state.keyring.find(credentials.credentials)
        if found is None:
            raise RequestRefused(
                401,
                ApiReason.AUTH_INVALID,
                "the API key is not valid",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        key = found
    wait = state.limiter.take(key.name)
    if wait > 0:
        raise RequestRefused(
            429,
            ApiReason.RATE_LIMITED,
            f"over {state.settings.api_rate:g} requests a second for this key",
            headers={"Retry-After": retry_after(wait)},
        )
    return key


async def reader_key(state: State, credentials: Credentials) -> ApiKey:
    """Dependency of the read routes: any valid key."""
    return _authenticate(state, credentials)


async def writer_key(state: State, credentials: Credentials) -> ApiKey:
    """Dependency of the write routes: a key that may write (403 for a read key)."""
    key = _authenticate(state, credentials)
    if not key.can_write:
        raise RequestRefused(403, ApiReason.AUTH_READ_ONLY, f"{key.name} may only read")
    return key


Reader = Annotated[ApiKey, Depends(reader_key)]
Writer = Annotated[ApiKey, Depends(writer_key)]
