"""Redis connections and the one place where redis-py's exceptions become ours.

Like httpx's ``map_exceptions``: every storage call runs inside :func:`map_errors` (or
under the :func:`guarded` / :func:`guarded_iter` decorators), so a connection fault,
timeout, a Redis still loading its data, a full (``maxmemory``) or read-only
(failed-over) Redis, a cluster with slots not served (mid-failover) or no node answering
surfaces as :class:`~worker.core.errors.StoreUnavailable`, a transient error that callers
wait on or retry. Keys of several slots in one command stay a bug (not retried). Nothing
outside ``worker.storage`` imports redis-py.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster

from worker.core.errors import StoreFull, StoreUnavailable
from worker.core.protocol import is_cluster_url, is_redis_url

P = ParamSpec("P")
T = TypeVar("T")
Redis = redis.Redis
CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    "health_check_interval": 15,
    "retry_on_timeout": True,
}
TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    # A cluster failing over: slots without a primary (CLUSTERDOWN, "hash slot not
    # served"), TRYAGAIN while a slot migrates, too many redirections.
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
)
# redis-py raises its RedisClusterException for cross-slot keys too (a bug): only these
# (no node answers; the slot map has holes, as mid-failover) are faults to wait on.
CLUSTER_FAULTS = ("Redis Cluster cannot be connected", "All slots are not covered")
FULL = (
    "the store is full (Redis maxmemory reached): nothing more was written; free memory "
    "(`ingest prune`, workers catching up) or raise maxmemory, then enqueue the rest"
)


def connect(url: str) -> redis.Redis:
    """A client for ``url`` with timeouts and retries on a dropped connection.

    A cluster URL gets a :class:`RedisCluster` (:func:`connect_cluster`). It is typed as
    ``redis.Redis`` for the callers: it answers the same commands, key by key; the
    scripts that touch several keys need them in one slot (the sharded layout).
    Raises StoreUnavailable for a URL redis-py cannot use (its scheme, a bad port).
    """
    if is_cluster_url(url):
        return connect_cluster(url)  # type: ignore[return-value]
    if not is_redis_url(url):
        raise StoreUnavailable(f"not a Redis URL: {url.split('://', 1)[0]}://...")
    try:
        return redis.Redis.from_url(url, **CLIENT_OPTIONS)
    except (ValueError, TypeError) as e:
        raise StoreUnavailable(f"unusable Redis URL: {e}") from e


def connect_cluster(url: str) -> RedisCluster:
    """A cluster client for ``redis+cluster://[user:pass@]host:port[,host:port...]``.

    Any reachable node of the list is enough: redis-py asks it for the slot map and
    finds the rest. The password, the user and TLS (``rediss+cluster://`` and its
    ``ssl_*`` query options) apply to every node. Raises StoreUnavailable when no node
    of the list answers or the URL is unusable.
    """
    first, nodes = cluster_nodes(url)
    try:
        return RedisCluster.from_url(first, startup_nodes=nodes, **CLIENT_OPTIONS)
    except (ValueError, TypeError) as e:
        raise StoreUnavailable(f"unusable Redis Cluster URL: {e}") from e
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as e:
        raise StoreUnavailable(f"redis cluster unavailable: {e}") from e


def cluster_nodes(url: str) -> tuple[str, list[ClusterNode]]:
    """A cluster URL as a one-node URL (scheme, credentials, options) and the other nodes.

    ``rediss+cluster://:pw@a:7000,b:7001/0?ssl_cert_reqs=required`` ->
    (``rediss://:pw@a:7000/0?ssl_cert_reqs=required``, [b:7001]).
    """
    if not is_cluster_url(url):
        raise StoreUnavailable(f"not a Redis Cluster URL: {url.split('://', 1)[0]}://...")
    scheme, _, rest = url.partition("://")
    creds, at, location = rest.rpartition("@")
    where, mark, query = location.partition("?")
    hosts, slash, path = where.partition("/")
    tail = f"{slash}{path}{mark}{query}"
    listed = [h.strip() for h in hosts.split(",") if h.strip()]
    if not listed:
        raise StoreUnavailable("a Redis Cluster URL needs at least one host:port")
    others = [_node(h) for h in listed[1:]]
    plain = scheme.removesuffix("+cluster")
    return f"{plain}://{creds}{at}{listed[0]}{tail}", others


def _node(hostport: str) -> ClusterNode:
    host, colon, port = hostport.rpartition(":")
    if not colon or not port.isdigit():
        raise StoreUnavailable(f"a Redis Cluster node needs host:port, not {hostport!r}")
    return ClusterNode(host.strip("[]"), int(port))  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def map_errors() -> Iterator[None]:
    """Turn Redis's transient faults into StoreUnavailable for the time of the block."""
    try:
        yield
    except redis.exceptions.OutOfMemoryError as e:
        raise StoreFull(FULL) from e
    except TRANSIENT as e:
        raise StoreUnavailable(f"redis unavailable: {e}") from e
    except redis.exceptions.RedisClusterException as e:
        if str(e).startswith(CLUSTER_FAULTS):
            raise StoreUnavailable(f"redis cluster unavailable: {e}") from e
        raise


def guarded(func: Callable[P, T]) -> Callable[P, T]:
    """Decorator: run ``func`` under :func:`map_errors`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with map_errors():
            return func(*args, **kwargs)

    return wrapper


def guarded_iter(func: Callable[P, Iterator[T]]) -> Callable[P, Iterator[T]]:
    """Like :func:`guarded`, for generators: the fault surfaces while iterating."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        with map_errors():
            yield from func(*args, **kwargs)

    return wrapper


def as_str(value: bytes | str) -> str:
    """A Redis reply value as text (replies are bytes unless decoded)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def as_strs(values: Any) -> list[str]:
    return [as_str(v) for v in values]


def wait_ready(client: redis.Redis, timeout: float = 30.0) -> None:
    """Block until Redis answers PING, or raise StoreUnavailable."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as e:
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"redis unavailable: {e}") from e
            time.sleep(0.2)


def out_of_memory(error: BaseException) -> bool:
    """True for Redis refusing a write at its maxmemory (e.g. kombu's publish)."""
    return isinstance(error, redis.exceptions.OutOfMemoryError)


def memory(client: redis.Redis) -> tuple[int, int]:
    """Redis's ``used_memory`` and ``maxmemory`` in bytes (0: no limit)."""
    with map_errors():
        info = client.info("memory")
    return int(info["used_memory"]), int(info.get("maxmemory", 0))


def answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis at ``url`` answers PING within ``timeout`` seconds."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        with contextlib.closing(client):
            return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def shutdown(url: str, *, save: bool) -> None:
    """Ask the Redis at ``url`` to shut down (flushing its AOF); quiet when it is gone."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    with contextlib.suppress(redis.RedisError), contextlib.closing(client):
        client.shutdown(nosave=not save)
