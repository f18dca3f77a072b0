"""The Lua scripts of ``worker/storage/lua``, read once per process."""

from __future__ import annotations

import functools
import re
from importlib import resources

import redis
from redis.commands.core import Script

INCLUDE = re.compile(r"^--#include (\S+)$", re.MULTILINE)


@functools.cache
def source(name: str) -> str:
    """The text of ``lua/{name}``, each ``--#include other.lua`` line replaced by that file."""
    text = resources.files("worker.storage").joinpath("lua", name).read_text()
    return INCLUDE.sub(lambda m: source(m.group(1)), text)


def register(client: redis.Redis, name: str) -> Script:
    """``lua/{name}`` registered on ``client`` (EVALSHA, loaded on first use)."""
    return client.register_script(source(name))
