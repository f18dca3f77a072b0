"""Redis connections and the one place where redis-py's exceptions become ours.

Like httpx's ``map_exceptions``: every storage call runs inside :func:`map_errors` (or
under the :func:`guarded` / :func:`guarded_iter` decorators), and :data:`ERRORS` maps each
redis-py error to one of :mod:`worker.core.errors`, most specific first: a full Redis is
:class:`~worker.core.errors.StoreFull`; a refused password, a database number out of range
or a server that is not a Redis is :class:`~worker.core.errors.StoreMisconfigured` (one
line naming ``INGEST_REDIS_URL``); a connection fault, timeout, a Redis still loading or
read-only (failed over), a cluster with slots not served (mid-failover) or no node
answering is :class:`~worker.core.errors.StoreUnavailable`, transient; any other refusal
(a key of another type, a script's error, keys of several slots in one command) is
:class:`~worker.core.errors.StoreError`. Nothing outside ``worker.storage`` imports
redis-py.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster

from worker.core.errors import (
    IngestError,
    StoreContention,
    StoreError,
    StoreFull,
    StoreMisconfigured,
    StoreUnavailable,
)
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
)
# redis-py's own RedisClusterException (not a RedisError) says this when no node answers or
# the slot map has holes (mid-failover): faults to wait on. It also says "all keys must
# map to the same key slot" (a bug, not retried).
CLUSTER_FAULTS = ("Redis Cluster cannot be connected", "All slots are not covered")
FULL = (
    "the store is full (Redis maxmemory reached): nothing more was written; free memory "
    "(`ingest prune`, workers catching up) or raise maxmemory, then enqueue the rest"
)
SETTING = "INGEST_REDIS_URL"


def _misconfigured(what: str) -> Callable[[Exception], IngestError]:
    return lambda e: StoreMisconfigured(f"{SETTING}: {what} (Redis said: {e})")


# (redis-py error class(es), text its message holds ("" any), our error): the first match
# wins, so the most specific come first; redis.RedisError last catches the rest.
ERRORS: tuple[
    tuple[type[Exception] | tuple[type[Exception], ...], str, Callable[[Exception], IngestError]],
    ...,
] = (
    (redis.exceptions.OutOfMemoryError, "", lambda e: StoreFull(FULL)),
    (
        redis.exceptions.AuthenticationError,
        "",
        _misconfigured("the store refused the login: check the password (and user) in the URL"),
    ),
    (
        redis.ResponseError,
        "DB index is out of range",
        _misconfigured("this Redis has no such database number: use a lower /N in the URL"),
    ),
    (
        redis.exceptions.InvalidResponse,
        "",
        _misconfigured("the server at that host and port does not speak the Redis protocol"),
    ),
    (redis.WatchError, "", lambda e: StoreContention(f"a watched key changed: {e}")),
    (TRANSIENT, "", lambda e: StoreUnavailable(f"redis unavailable: {e}")),
    (
        redis.ResponseError,
        "WRONGTYPE",
        lambda e: StoreError(
            f"a key under the namespace holds another type than this worker writes ({e}): "
            "does another program use the same INGEST_NAMESPACE?"
        ),
    ),
    (redis.RedisError, "", lambda e: StoreError(f"the store refused a command: {e}")),
)


def mapped(error: Exception) -> IngestError:
    """Our error for a redis-py error (see :data:`ERRORS`)."""
    for kinds, text, make in ERRORS:
        if isinstance(error, kinds) and text in str(error):
            return make(error)
    return StoreError(f"the store refused a command: {error}")


def cluster_mapped(error: Exception) -> IngestError:
    """Our error for redis-py's RedisClusterException (raised before any command is sent)."""
    if isinstance(error, redis.exceptions.SlotNotCoveredError) or str(error).startswith(
        CLUSTER_FAULTS
    ):
        return StoreUnavailable(f"redis cluster unavailable: {error}")
    return StoreError(f"the store refused a command: {error}")


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
    """Turn redis-py's errors into ours (:data:`ERRORS`) for the time of the block."""
    try:
        yield
    except redis.RedisError as e:
        raise mapped(e) from e
    except redis.exceptions.RedisClusterException as e:
        raise cluster_mapped(e) from e


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
    """Block until Redis answers PING, or raise StoreUnavailable.

    A store that waiting cannot fix (misconfigured, refusing commands) raises at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.RedisError as e:
            error = mapped(e)
            waiting_helps = not isinstance(error, StoreMisconfigured | StoreFull)
            if not (waiting_helps and isinstance(error, StoreUnavailable)):
                raise error from e
            if time.monotonic() > deadline:
                raise error from e
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
