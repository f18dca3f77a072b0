"""The store's shard count: fixed when the store is created, the same for every process.

The first writer records its count under ``Keys.shard_count`` (``SET NX``); a writer set
up with another count refuses to write, in one line, rather than file records under keys
no reader looks at. Readers take the recorded count (none recorded: one shard).
"""

from __future__ import annotations

from redis.cluster import RedisCluster

from worker.core.errors import ConfigError, StoreUnavailable
from worker.core.keys import Keys
from worker.core.settings import CLUSTER_SHARDS, Settings
from worker.storage.connection import Redis, guarded


def is_cluster(client: Redis) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


def writer_keys(client: Redis, settings: Settings) -> Keys:
    """A writer's keys: INGEST_STORE_SHARDS, else 16 shards on a cluster and 1 on one server."""
    shards = settings.store_shards or (CLUSTER_SHARDS if is_cluster(client) else 1)
    if shards == 1 and is_cluster(client):
        raise ConfigError(
            "INGEST_STORE_SHARDS=1 cannot run on a Redis Cluster (the single-server layout "
            f"spans many slots): unset it for {CLUSTER_SHARDS} shards, or set 2 or more"
        )
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
def stored_keys(client: Redis, namespace: str) -> tuple[Keys, bool]:
    """The keys of the store as it was created, and whether its count was recorded (if
    not: a writer's default, 24 shards on a cluster, 1 on one server)."""
    raw = client.get(Keys(namespace).shard_count)
    if raw:
        return Keys(namespace, shards=int(raw)), True
    return Keys(namespace, shards=CLUSTER_SHARDS if is_cluster(client) else 1), False


# How long a batch waits for each primary's replica to have its writes before the task is
# acknowledged (a failover then loses nothing acknowledged).
REPLICATION_WAIT_MS = 2000


@guarded
def wait_replicated(client: Redis, timeout_ms: int = REPLICATION_WAIT_MS) -> None:
    """On a cluster: block until every primary's writes reached a replica (WAIT 1).

    Raises StoreUnavailable (transient: the batch is delivered again, and every step is
    idempotent) when a primary that has a replica could not confirm in time. A primary
    without a replica (its replica was promoted and the old primary is gone) has nothing
    to wait for. A single server: nothing to do.
    """
    if not isinstance(client, RedisCluster):
        return
    for node in client.get_primaries():
        if int(client.wait(1, timeout_ms, target_nodes=node)) >= 1:
            continue
        replication: dict[str, object] = client.info("replication", target_nodes=node)
        if int(str(replication.get("connected_slaves", 0))) > 0:
            raise StoreUnavailable(f"writes not replicated from {node.name} in {timeout_ms} ms")
