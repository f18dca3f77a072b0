"""The Lua scripts of ``worker/storage/lua``, read once per process."""

from __future__ import annotations

import functools
from importlib import resources

import redis
from redis.commands.core import Script


@functools.cache
def source(name: str) -> str:
    """The text of ``lua/{name}``."""
    return resources.files("worker.storage").joinpath("lua", name).read_text()


def register(client: redis.Redis, name: str) -> Script:
    """``lua/{name}`` registered on ``client`` (EVALSHA, loaded on first use)."""
    return client.register_script(source(name))
