"""The suite's local cluster (tests.support.cluster): slots spread, failover on SIGKILL."""

from __future__ import annotations

import contextlib
from pathlib import Path

from redis.cluster import RedisCluster

from tests.support.cluster import BUS_OFFSET, LocalCluster, free_cluster_port, local_cluster
from tests.support.helpers import suite_binary

KEYS = 2000


def slots_of(client: RedisCluster, keys: list[str]) -> set[int]:
    return {client.keyslot(k) for k in keys}


def test_cluster_ports_leave_room_for_the_bus() -> None:
    port = free_cluster_port()
    assert port + BUS_OFFSET < 65536


def test_keys_in_many_slots_read_back_through_redis_cluster(
    redis_cluster: LocalCluster, cluster_url: str
) -> None:
    assert cluster_url.startswith("redis+cluster://:")
    client = redis_cluster.client()
    with contextlib.closing(client):
        keys = [f"smoke:{i}" for i in range(KEYS)]
        for key in keys:
            client.set(key, key.encode()[::-1])
        assert len(slots_of(client, keys)) > 1000
        assert [client.get(k) for k in keys] == [k.encode()[::-1] for k in keys]
        per_primary = [n.client().dbsize() for n in redis_cluster.primary_nodes()]
    assert len(per_primary) == 3
    assert sum(per_primary) == KEYS
    assert min(per_primary) > KEYS // 5  # each primary holds about a third


def test_a_killed_primary_is_replaced_by_its_replica(tmp_path: Path) -> None:
    with local_cluster(tmp_path, suite_binary()) as cluster:
        client = cluster.client()
        with contextlib.closing(client):
            keys = [f"failover:{i}" for i in range(300)]
            for key in keys:
                client.set(key, key)
            client.wait(1, 5000)  # the replicas have every write before the crash
            dead = cluster.kill_primary(0)
            cluster.wait_promoted()
            assert dead not in cluster.primary_nodes()
            assert len(cluster.primary_nodes()) == 3
        client = cluster.client()
        with contextlib.closing(client):
            assert [client.get(k) for k in keys] == [k.encode() for k in keys]
        cluster.revive(dead)
        assert dead.info("replication")["role"] == "slave"
