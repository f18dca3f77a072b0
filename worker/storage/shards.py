"""The store's shard count: fixed when the store is created, the same for every process.

The first writer records its count under ``Keys.shard_count`` (``SET NX``); a writer set
up with another count refuses to write, in one line, rather than file records under keys
no reader looks at. Readers take the recorded count (none recorded: one shard).
"""

from __future__ import annotations

from redis.cluster import RedisCluster

from worker.core.errors import ConfigError
from worker.core.keys import Keys
from worker.core.settings import CLUSTER_SHARDS, Settings
from worker.storage.connection import Redis, guarded


def is_cluster(client: Redis) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


def writer_keys(client: Redis, settings: Settings) -> Keys:
    """A writer's keys: INGEST_STORE_SHARDS, else 16 shards on a cluster and 1 on one server."""
    shards = settings.store_shards or (CLUSTER_SHARDS if is_cluster(client) else 1)
    return Keys(settings.namespace, shards=shards)


@guarded
def claim_shards(client: Redis, keys: Keys) -> None:
    """Record ``keys.shards`` as the store's count, or raise if it was made with another.

    One shard (a single server's default) is what an unrecorded store has: nothing is
    written for it, so a single server's keys stay as they were.
    """
    if keys.shards > 1:
        client.set(keys.shard_count, keys.shards, nx=True)
    stored = int(client.get(keys.shard_count) or keys.shards)
    if stored != keys.shards:
        raise ConfigError(
            f"INGEST_STORE_SHARDS: this store was created with {stored} shards, not "
            f"{keys.shards}: set INGEST_STORE_SHARDS={stored} (or unset it)"
        )


@guarded
def stored_keys(client: Redis, namespace: str) -> Keys:
    """The keys of the store as it was created (one shard when nothing was recorded)."""
    raw = client.get(Keys(namespace).shard_count)
    return Keys(namespace, shards=int(raw) if raw else 1)
