"""examples/compose.cluster.yml: six cluster nodes, the one-shot join, a plain broker, a worker.

Docker cannot run here: the file is parsed and interpolated as compose would, and each
service's command, ports and environment checked against what the cluster needs.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support.compose_helpers import interpolate, load_compose
from tests.support.helpers import ROOT
from worker.core.settings import load_settings
from worker.storage.connection import cluster_nodes

EXAMPLE = ROOT / "examples" / "compose.cluster.yml"
PASSWORD = "a-real-cluster-secret"
NODES = [f"node-{i}" for i in range(1, 7)]


def compose() -> dict[str, Any]:
    data = interpolate(yaml.safe_load(EXAMPLE.read_text()), {"REDIS_PASSWORD": PASSWORD})
    assert isinstance(data, dict)
    return data["services"]  # type: ignore[no-any-return]


def command_text(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_six_cluster_nodes_on_the_project_redis_image() -> None:
    services = compose()
    image = load_compose()["services"]["redis"]["image"]
    for name in NODES:
        node = services[name]
        text = command_text(node)
        assert node["image"] == image
        assert "--cluster-enabled yes" in text
        assert "--port 6379" in text  # its cluster bus: 16379, on the compose network
        assert '--masterauth "$REDIS_PASSWORD"' in text  # replicas log in to their primary
        assert '--requirepass "$REDIS_PASSWORD"' in text
        assert node["environment"]["REDIS_PASSWORD"] == PASSWORD
        assert "ports" not in node  # neither 6379 nor 16379 leaves the network
        assert node["volumes"] == [f"{name}:/data"]


def test_the_join_makes_three_primaries_with_a_replica_each() -> None:
    init = compose()["cluster-init"]
    text = command_text(init)
    assert "--cluster create" in text
    assert "--cluster-replicas 1" in text
    assert "--cluster-yes" in text
    assert re.findall(r"getent hosts (node-\d)", text) == NODES
    assert set(init["depends_on"]) == set(NODES)
    assert init["restart"] == "no"


def test_the_worker_uses_the_cluster_as_store_and_a_plain_redis_as_broker() -> None:
    services = compose()
    env = services["worker"]["environment"]
    settings = load_settings(redis_url=env["INGEST_REDIS_URL"], broker_url=env["INGEST_BROKER_URL"])
    assert settings.redis_url is not None
    first, others = cluster_nodes(settings.redis_url)
    assert first == f"redis://:{PASSWORD}@node-1:6379"
    assert [(n.host, n.port) for n in others] == [("node-2", 6379), ("node-3", 6379)]
    assert settings.broker_for(settings.redis_url) == f"redis://:{PASSWORD}@broker:6379/0"
    assert "broker" in services
    depends = services["worker"]["depends_on"]
    assert depends["cluster-init"]["condition"] == "service_completed_successfully"
