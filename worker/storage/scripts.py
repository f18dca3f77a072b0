"""The Lua scripts of ``worker/storage/lua``, read once per process, and how they are run."""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import redis
from redis.cluster import ClusterPipeline
from redis.commands.core import Script

from worker.storage.scriptcalls import ScriptCall

INCLUDE = re.compile(r"^--#include (\S+)$", re.MULTILINE)


@functools.cache
def source(name: str) -> str:
    """The text of ``lua/{name}``, each ``--#include other.lua`` line replaced by that file."""
    text = resources.files("worker.storage").joinpath("lua", name).read_text()
    return INCLUDE.sub(lambda m: source(m.group(1)), text)


def register(client: redis.Redis, name: str) -> Script:
    """``lua/{name}`` registered on ``client`` (EVALSHA, loaded on first use)."""
    return client.register_script(source(name))


class Scripts:
    """The scripts of one client, each registered on first use."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._registered: dict[str, Script] = {}
        self._loaded: set[str] = set()

    def run(self, call: ScriptCall, pipe: Any = None) -> Any:
        """Run ``call``'s script with its KEYS and ARGV (queued on ``pipe`` if given).

        A cluster's pipeline refuses redis-py's scripts: there the script is loaded on
        every primary first (:meth:`load_everywhere`) and queued as a bare EVALSHA.
        """
        script = self._registered.get(call.script)
        if script is None:
            script = self._registered[call.script] = register(self.client, call.script)
        keys, args = call.keys_and_args()
        if isinstance(pipe, ClusterPipeline):
            self.load_everywhere(script)
            return pipe.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", script.sha, len(keys), *keys, *args
            )
        return script(keys=keys, args=args, client=pipe)

    def load_everywhere(self, script: Script, again: bool = False) -> None:
        """Load ``script`` on every primary of the cluster (once, or ``again`` after a
        failover: a promoted replica has no scripts cached)."""
        if again or script.sha not in self._loaded:
            self.client.script_load(script.script)
            self._loaded.add(script.sha)

    def reload(self) -> None:
        """Load every script used so far again (a pipeline met NOSCRIPT)."""
        for script in self._registered.values():
            self.load_everywhere(script, again=True)
