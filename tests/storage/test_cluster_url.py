"""``INGEST_REDIS_URL=redis+cluster://...``: parsing, settings, the broker it needs, connecting."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.support.cluster import LocalCluster, free_cluster_port, local_cluster
from tests.support.helpers import SEEDS, ingest, suite_binary
from worker.core.errors import ConfigError, StoreError, StoreUnavailable
from worker.core.settings import Settings, load_settings, masked
from worker.storage.connection import cluster_nodes, connect, connect_cluster, map_errors

NEEDS = "set INGEST_BROKER_URL"


@pytest.mark.parametrize(
    ("url", "first", "others"),
    [
        ("redis+cluster://:pw@a:7000,b:7001,c:7002", "redis://:pw@a:7000", ["b:7001", "c:7002"]),
        ("redis+cluster://a:7000", "redis://a:7000", []),
        ("redis+cluster://u:p@a:7000,b:7001/0", "redis://u:p@a:7000/0", ["b:7001"]),
        (
            "rediss+cluster://:pw@a:7000,[::1]:7001?ssl_cert_reqs=required&ssl_ca_certs=/c/ca.crt",
            "rediss://:pw@a:7000?ssl_cert_reqs=required&ssl_ca_certs=/c/ca.crt",
            ["::1:7001"],
        ),
        ("redis+cluster://a:7000, b:7001 ,", "redis://a:7000", ["b:7001"]),
    ],
)
def test_a_cluster_url_names_the_first_node_and_the_others(
    url: str, first: str, others: list[str]
) -> None:
    one, rest = cluster_nodes(url)
    assert one == first
    assert [f"{n.host}:{n.port}" for n in rest] == others


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://", "at least one host:port"),
        ("redis+cluster://a:7000,b", "host:port, not 'b'"),
        ("redis+cluster://a:7000,b:port", "host:port, not 'b:port'"),
        ("redis://a:7000", "not a Redis Cluster URL"),
    ],
)
def test_a_bad_cluster_url_is_refused_in_one_line(url: str, says: str) -> None:
    with pytest.raises(StoreUnavailable, match=says):
        cluster_nodes(url)


@pytest.mark.parametrize("scheme", ["redis+cluster", "rediss+cluster"])
def test_settings_accept_a_cluster_store_and_mask_its_password(scheme: str) -> None:
    url = f"{scheme}://:s3cret@10.0.0.1:7000,10.0.0.2:7000"
    settings = load_settings(redis_url=url, broker_url="redis://:b@10.0.0.9:6379/0")
    assert settings.redis_url == url
    assert masked(settings)["redis_url"] == f"{scheme}://:***@10.0.0.1:7000,10.0.0.2:7000"


def test_a_cluster_is_no_broker() -> None:
    with pytest.raises(ConfigError, match="INGEST_BROKER_URL: the broker cannot be a cluster"):
        load_settings(broker_url="redis+cluster://10.0.0.1:7000")


def test_a_cluster_store_needs_a_broker_url() -> None:
    url = "redis+cluster://10.0.0.1:7000"
    with pytest.raises(ConfigError, match=NEEDS):
        Settings(redis_url=url).broker_for(url)
    amqp = "amqp://guest:guest@127.0.0.1:5672//"
    assert Settings(redis_url=url, broker_url=amqp).broker_for(url) == amqp
    assert Settings().broker_for("redis://h:1/0") == "redis://h:1/0"


@pytest.mark.parametrize(
    "command",
    [
        ("enqueue", str(SEEDS)),
        ("stats",),
        ("health",),
        ("metrics",),
        ("worker",),
        ("run", str(SEEDS)),
    ],
)
def test_commands_that_need_a_broker_say_so_in_one_line(
    cluster_url: str, command: tuple[str, ...]
) -> None:
    result = ingest(*command, url=cluster_url)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "INGEST_BROKER_URL" in lines[0]
    assert "cluster" in lines[0]


def test_connect_builds_a_cluster_client_from_any_reachable_node(
    redis_cluster: LocalCluster, cluster_url: str
) -> None:
    dead = free_cluster_port()  # listed first, nothing answers there: the next node serves
    live = redis_cluster.nodes[1].port
    url = f"redis+cluster://:{redis_cluster.password}@127.0.0.1:{dead},127.0.0.1:{live}"
    client = connect_cluster(url)
    with contextlib.closing(client):
        keys = [f"k:{i}" for i in range(300)]
        for key in keys:
            client.set(key, key)
        assert len({client.keyslot(k) for k in keys}) > 250
        assert [client.get(k) for k in keys] == [k.encode() for k in keys]
        assert len(client.get_primaries()) == 3  # the rest discovered
    plain = connect(cluster_url)
    with contextlib.closing(plain):
        assert plain.get("k:7") == b"k:7"


def test_a_cluster_of_which_no_node_answers_is_unavailable() -> None:
    url = f"redis+cluster://127.0.0.1:{free_cluster_port()}"
    with pytest.raises(StoreUnavailable, match="redis cluster unavailable"):
        connect_cluster(url)


def test_the_client_follows_a_failover(tmp_path: Path) -> None:
    with local_cluster(tmp_path, suite_binary()) as cluster:
        client = connect_cluster(cluster.url)
        with contextlib.closing(client):
            keys = [f"f:{i}" for i in range(200)]
            for key in keys:
                client.set(key, key)
            for primary in cluster.primary_nodes():
                with contextlib.closing(primary.client()) as node:
                    node.wait(1, 5000)  # every write reached the replica before the crash
            cluster.kill_primary(1)
            cluster.wait_promoted()
            assert [client.get(k) for k in keys] == [k.encode() for k in keys]
            client.set("f:after", "1")
            assert client.get("f:after") == b"1"


def test_a_slot_without_a_primary_is_a_transient_fault(tmp_path: Path) -> None:
    """CLUSTERDOWN (a slot no primary serves, as mid-failover) is StoreUnavailable, retried."""
    with local_cluster(tmp_path, suite_binary()) as cluster:
        client = connect_cluster(cluster.url)
        with contextlib.closing(client):
            client.set("k", "v")
            slot = client.keyslot("k")
            for node in cluster.nodes:
                with contextlib.closing(node.client()) as each:
                    each.execute_command("CLUSTER", "DELSLOTS", slot)
            with pytest.raises(StoreUnavailable), map_errors():
                client.get("k")


def test_keys_of_two_slots_in_one_command_are_a_store_error_not_retried(cluster_url: str) -> None:
    client = connect_cluster(cluster_url)
    with contextlib.closing(client):
        assert client.keyslot("a") != client.keyslot("b")
        with pytest.raises(StoreError, match="same key slot"), map_errors():
            client.eval("return 1", 2, "a", "b")
