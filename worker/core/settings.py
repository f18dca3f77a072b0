"""The one typed settings object: the only reader of ``INGEST_*`` variables.

(Other modules touch the environment only to pass it on to a child process or to set
Celery's own switches.) The config file is found and read for it by
``worker.core.configfiles``, and placeholder secrets are told by ``worker.core.secrets``.

Values come, highest first, from ``INGEST_*`` environment variables, then from the TOML file
named by ``INGEST_CONFIG_FILE`` (default ``ingest.toml`` in the user's config folder when it
exists), then the defaults below. A password may come from a file
(``INGEST_REDIS_PASSWORD_FILE``, ``INGEST_BROKER_PASSWORD_FILE``: compose secrets), put into
its URL here and nowhere else. Mistakes stop the command with one line naming the fix: a
value that does not validate, a named config file that is missing or not valid TOML, a key
of that file or an ``INGEST_*`` variable that is no setting (with the closest valid name), a
store URL that is not Redis, and a password left at a placeholder of ``.env.example``.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from worker.core.configfiles import (
    APP_FOLDER,
    ENV_PREFIX,
    check_variables,
    config_file,
    default_feeds_file,
    read_config,
    relative_to_file,
)
from worker.core.errors import ConfigError
from worker.core.protocol import AMQP_SCHEMES, CLUSTER_SCHEMES, REDIS_SCHEMES, is_cluster_url
from worker.core.secrets import GENERATE_SECRET, is_placeholder, url_password
from worker.core.textsafe import has_query_secret, redact_query_secrets

SECRET_FIELDS = ("redis_url", "broker_url")
NO_CLUSTER_BROKER = (
    "the broker cannot be a cluster (kombu has no cluster transport): use redis:// "
    "(one server) or amqp:// (RabbitMQ)"
)
NEEDS_BROKER = (
    "INGEST_REDIS_URL is a cluster, which cannot be the broker: set INGEST_BROKER_URL "
    "to a plain Redis (redis://) or RabbitMQ (amqp://)"
)
# A password read from a file, for the URL that has none: (file field, URL field).
PASSWORD_FILES = (("redis_password_file", "redis_url"), ("broker_password_file", "broker_url"))
# Paths a config file may give relative to its own folder.
PATH_FIELDS = (
    "redis_password_file",
    "broker_password_file",
    "data_dir",
    "feeds_file",
    "api_keys_file",
)


def default_data_dir() -> Path:
    """The user's embedded store: the platform's data folder, ``news-ingest`` in it.

    ``$XDG_DATA_HOME/news-ingest``, else ``~/.local/share/news-ingest``; on macOS
    ``~/Library/Application Support/news-ingest``.
    """
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_FOLDER
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative value is invalid and ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / APP_FOLDER


# Shards of a new store on a Redis Cluster: more than its primaries, so that adding nodes
# moves slots, not records between shards; 24 shares evenly over 2, 3, 4, 6, 8 or 12.
CLUSTER_SHARDS = 24


def split_list(value: str) -> tuple[str, ...]:
    """A list setting from the environment: ``a,b``, or the list form ``["a", "b"]``.

    ``ingest config`` prints lists in the second form: either one can be pasted back.
    """
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        parts = (part.strip().strip("'\"") for part in text.split(","))
    else:
        parts = (part.strip() for part in text.split(","))
    return tuple(part for part in parts if part)


class Settings(BaseSettings):
    """Effective configuration. Field ``x`` is read from ``INGEST_X``."""

    # A rejected value may hold a password: errors name the setting, never echo its value.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    redis_url: str | None = Field(
        default=None, description="Redis for records and state; unset: embedded Redis"
    )
    broker_url: str | None = Field(
        default=None, description="Celery broker (redis:// or amqp://); unset: same as redis_url"
    )
    redis_password_file: Path | None = Field(
        default=None, description="file holding the password of a redis_url written without one"
    )
    broker_password_file: Path | None = Field(
        default=None, description="file holding the password of a broker_url written without one"
    )
    namespace: str = Field(
        default="ingest", pattern=r"^[A-Za-z0-9_.-]+$", description="prefix of every Redis key"
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="the embedded store's folder (one per user); unset: the platform's data folder",
    )
    embedded_server: str | None = Field(
        default=None,
        description="redis-server/valkey-server the embedded store runs; unset: chosen (see docs)",
    )
    visibility_timeout: int = Field(
        default=600, gt=0, description="seconds before an unacked task is redelivered"
    )
    queue: str = Field(default="ingest", pattern=r"^[A-Za-z0-9_.-]+$", description="Celery queue")
    max_document_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="seed documents larger than this are rejected"
    )
    batch_size: int = Field(default=200, gt=0, le=5000, description="documents per task")
    batch_bytes: int = Field(default=2 * 1024 * 1024, gt=0, description="payload bytes per task")
    max_queued_batches: int = Field(
        default=20,
        ge=0,
        description="`ingest enqueue` and `run` wait while more tasks wait in the queue; 0: never",
    )
    enqueue_stall_seconds: float = Field(
        default=10.0,
        gt=0,
        description="seconds a full queue may stand still before enqueue stops waiting for it",
    )
    max_deliveries: int = Field(
        default=3, gt=0, description="deliveries lost to a dying worker before rejection"
    )
    outcome_ttl: int = Field(
        default=7 * 24 * 3600, gt=0, description="seconds an input's outcome is remembered"
    )
    stream_maxlen: int = Field(
        default=1_000_000, gt=0, description="approximate cap on each event stream"
    )
    worker_concurrency: int | None = Field(
        default=None, gt=0, description="worker processes; unset: one per CPU, and one more"
    )
    feed_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="feed bodies larger than this (decompressed) are rejected",
    )
    feed_max_entries: int = Field(
        default=1000,
        gt=0,
        le=1_000_000,
        description="entries kept per feed; the rest are dropped with one feed.too_many_entries",
    )
    feed_connect_timeout: float = Field(
        default=5.0, gt=0, description="seconds to resolve and connect to a feed host"
    )
    feed_timeout: float = Field(
        default=20.0, gt=0, description="seconds a whole feed fetch may take, redirects included"
    )
    feed_max_redirects: int = Field(
        default=5, ge=0, le=20, description="redirects a feed fetch follows"
    )
    log_format: str = Field(default="text", pattern=r"^(text|json)$", description="text or json")
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    feed_allowed_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="comma-separated CIDRs a feed URL may resolve into"
    )
    feeds_file: Path = Field(
        default_factory=default_feeds_file,
        description="feed subscriptions polled by beat; unset: feeds.toml in the config folder",
    )
    feed_interval: int = Field(
        default=900, ge=10, description="seconds between polls of a feed that sets no interval"
    )
    feed_poll_every: float = Field(
        default=30.0, gt=0, description="seconds between beat's checks for feeds due"
    )
    beat_lease: float = Field(
        default=30.0,
        ge=1,
        description="seconds a beat leads unless it renews; another beat takes over after",
    )
    feed_user_agent: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^[ -~]+$",
        description="User-Agent of feed requests; unset: news-ingest-worker/VERSION",
    )
    feed_proxy: str | None = Field(
        default=None, description="http://host:port proxy for every feed fetch (a trusted hop)"
    )
    feed_host_concurrency: int = Field(
        default=1, ge=1, le=64, description="fetches at a time from one feed host"
    )
    feed_host_delay: float = Field(
        default=2.0, ge=0, le=3600, description="seconds between two fetch starts on one host"
    )
    feed_host_wait: float = Field(
        default=5.0,
        ge=0,
        description="a fetch whose host slot is further away is deferred, not waited for",
    )
    feed_max_defer: float = Field(
        default=300.0,
        gt=0,
        description="a host blocked longer (Retry-After) fails the fetch as feed.host_backoff",
    )
    feed_poll_spread: float = Field(
        default=60.0, ge=0, description="seconds over which new subscriptions' first polls spread"
    )
    tombstone_ttl: int = Field(
        default=90 * 24 * 3600,
        gt=0,
        description="seconds a pruned record's id and content hash keep it from coming back",
    )
    payload_ttl: int = Field(
        default=30 * 24 * 3600,
        ge=0,
        description="seconds a rejected input's payload is kept for replay; 0: until the cap",
    )
    payload_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="bytes of rejected payloads kept at most (the oldest dropped first)",
    )
    tombstone_max: int = Field(
        default=1_000_000, gt=0, description="tombstones kept at most (oldest dropped first)"
    )
    feed_state_ttl: int = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="seconds a feed's state outlives its last fetch (at least twice its wait)",
    )
    feed_max_backoff: int = Field(
        default=6 * 3600, ge=10, description="cap in seconds on the delay after failed polls"
    )
    worker_soft_shutdown_timeout: float = Field(
        default=10.0,
        ge=0,
        description="seconds a stopping worker lets running tasks finish before requeueing them",
    )
    task_soft_time_limit: float = Field(
        default=300.0,
        gt=0,
        description="seconds a task may run before the input being prepared is rejected",
    )
    task_time_limit: float = Field(
        default=360.0,
        gt=0,
        description="seconds after which a task's process is killed and the task requeued",
    )
    task_events: bool = Field(
        default=False, description="workers send task events (Flower's task view and metrics)"
    )
    metrics_host: str = Field(
        default="127.0.0.1", min_length=1, description="address `ingest metrics --serve` binds"
    )
    metrics_port: int = Field(
        default=9808, gt=0, lt=65536, description="port `ingest metrics --serve` listens on"
    )
    stream_max_age: int | None = Field(
        default=None, gt=0, description="`ingest prune` trims stream events older than this (s)"
    )
    record_retention_days: int | None = Field(
        default=None, gt=0, description="`ingest prune` deletes records published before this"
    )
    consumer_min_idle: float = Field(
        default=60.0,
        gt=0,
        description="seconds before a pending event is claimed from its consumer",
    )
    consumer_max_deliveries: int = Field(
        default=5, gt=0, description="deliveries of one event before it is dead-lettered"
    )

    api_host: str = Field(
        default="127.0.0.1", min_length=1, description="address `ingest serve` binds"
    )
    api_port: int = Field(default=8000, gt=0, lt=65536, description="port `ingest serve` uses")
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), description="comma-separated API keys; a key ending in :read only reads"
    )
    api_keys_file: Path | None = Field(
        default=None, description="file of API keys, one a line (# comments), added to api_keys"
    )
    api_rate: float = Field(
        default=50.0, gt=0, description="requests per second each API key may make, sustained"
    )
    api_burst: int = Field(default=100, gt=0, description="requests an API key may make at once")
    api_max_wait: float = Field(
        default=30.0, gt=0, le=300, description="cap in seconds on GET /v1/inputs/{id}?wait="
    )
    api_heartbeat: float = Field(
        default=15.0, gt=0, description="seconds between keep-alive comments on GET /v1/events"
    )
    api_read_timeout: float = Field(
        default=15.0,
        gt=0,
        description="seconds a client has to send a request's headers, then its body",
    )
    api_max_streams: int = Field(
        default=100, gt=0, description="open GET /v1/events streams per API process (503 past it)"
    )
    enrich: bool = Field(
        default=True,
        description="add the NLP fields (language, paragraph hashes, near-duplicate cluster)",
    )
    neardup: bool = Field(
        default=True, description="assign near-duplicate clusters at ingest (MinHash LSH)"
    )
    neardup_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1.0,
        description="estimated Jaccard similarity (3-word shingles) that makes a near-duplicate",
    )
    store_shards: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="shards of the record store, fixed when it is created; unset: 1, "
        "or 24 with a redis+cluster:// store",
    )
    full_text: bool = Field(
        default=False,
        description="fetch the article page of short feed entries (feeds.toml full_text overrides)",
    )
    full_text_min_words: int = Field(
        default=80, ge=1, description="feed entries with fewer words get their page fetched"
    )
    full_text_budget: float = Field(
        default=60.0,
        gt=0,
        description="seconds one task may spend on article pages; pages past it keep feed text",
    )
    full_text_max_backoff: int = Field(
        default=900,
        ge=0,
        description="cap in seconds on how long a page's Retry-After holds back its host's pages",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return split_list(value) if isinstance(value, str) else value

    @field_validator("feed_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = split_list(value)
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return tuple(value)

    @field_validator("feed_proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("http://") or "@" in value or any(c <= " " for c in value):
            raise ValueError("must be http://host:port, without credentials")
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_dir(cls, value: Path) -> Path:
        # One store whatever the current folder: a relative value is taken from here once.
        return value.expanduser().absolute()

    @field_validator("embedded_server")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="before")
    @classmethod
    def _passwords_from_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for file_field, url_field in PASSWORD_FILES:
                if data.get(file_field):
                    data = {**data, url_field: with_password_file(data, file_field, url_field)}
        return data

    @field_validator("redis_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        return _checked_url(value, REDIS_SCHEMES + CLUSTER_SCHEMES)

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str | None) -> str | None:
        if value and is_cluster_url(value):
            raise ValueError(NO_CLUSTER_BROKER)
        return _checked_url(value, REDIS_SCHEMES + AMQP_SCHEMES)

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.task_time_limit <= self.task_soft_time_limit:
            raise ValueError(
                f"{ENV_PREFIX}TASK_TIME_LIMIT ({self.task_time_limit:g}) must be greater than "
                f"{ENV_PREFIX}TASK_SOFT_TIME_LIMIT ({self.task_soft_time_limit:g})"
            )
        return self

    @property
    def embedded(self) -> bool:
        """True when no Redis URL is configured and the embedded server is used."""
        return self.redis_url is None

    def broker_for(self, store_url: str) -> str:
        """The broker's URL: ``INGEST_BROKER_URL``, else the store's own Redis.

        Raises ConfigError when the store is a cluster and no broker is set.
        """
        if self.broker_url:
            return self.broker_url
        if is_cluster_url(store_url):
            raise ConfigError(NEEDS_BROKER)
        return store_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        check_variables(os.environ, settings_cls.model_fields)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file(os.environ)
        if path is not None:
            data = read_config(path, settings_cls.model_fields)
            relative_to_file(data, path, PATH_FIELDS)
            sources.append(InitSettingsSource(settings_cls, data))
        return tuple(sources)


def with_password_file(data: dict[str, Any], file_field: str, url_field: str) -> str:
    """``data[url_field]`` with the password read from the file ``data[file_field]`` names."""
    file_var, url_var = f"{ENV_PREFIX}{file_field.upper()}", f"{ENV_PREFIX}{url_field.upper()}"
    url = str(data.get(url_field) or "")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"{file_var} gives a password for {url_var}, which is not set")
    if url_password(url):
        raise ValueError(f"{url_var} has a password and {file_var} gives one too: keep one")
    path = Path(data[file_field])
    try:
        password = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{file_var}: cannot read {path}: {e.__class__.__name__}") from None
    if not password or is_placeholder(password):
        raise ValueError(f"{file_var}: {path} is empty or a placeholder: {GENERATE_SECRET}")
    host = rest.rpartition("@")[2]
    user = rest.rpartition("@")[0] if "@" in rest else ""
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def _checked_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(schemes):
        raise ValueError(f"must start with one of {', '.join(schemes)}")
    if has_query_secret(value):
        # kombu cannot read it (a TypeError deep in Celery), and it is easily leaked.
        raise ValueError("put the password in the URL (redis://:PASSWORD@host), not its query")
    if is_placeholder(url_password(value)):
        raise ValueError(f"its password is a placeholder of .env.example: {GENERATE_SECRET}")
    return value


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation error into a ConfigError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{_origin(str(err['loc'][0]), overrides)}: {_message(err['msg'])}"
            if err["loc"]
            else _message(err["msg"])
            for err in e.errors()
        )
        raise ConfigError(problems) from e


def _origin(name: str, overrides: dict[str, Any]) -> str:
    """Where a setting's bad value came from: its variable, else the config file's key."""
    variable = f"{ENV_PREFIX}{name.upper()}"
    if name in overrides or any(key.upper() == variable for key in os.environ):
        return variable
    path = config_file(os.environ)
    if path is not None and name in read_config(path, Settings.model_fields):
        return f"config file {path}: key {name}"
    return variable


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def api_key_lines(settings: Settings) -> list[str]:
    """The configured API keys as written (``KEY`` or ``KEY:read``): the variable, then the file.

    The file holds one key a line; blank lines and lines starting with ``#`` are skipped.
    Raises ConfigError when the named file cannot be read, or for a placeholder key.
    """
    keys = [key.get_secret_value() for key in settings.api_keys]
    path = settings.api_keys_file
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{ENV_PREFIX}API_KEYS_FILE: cannot read {path}: {e}") from e
        keys += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if any(is_placeholder(key) for key in keys):
        where = f"{ENV_PREFIX}API_KEYS" + ("_FILE" if path is not None else "")
        raise ConfigError(f"{where}: a key is a placeholder of an example: {GENERATE_SECRET}")
    return keys


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as a dict with passwords in URLs replaced by ``***``."""
    data = settings.model_dump(mode="json")
    for name in SECRET_FIELDS:
        if data.get(name):
            data[name] = mask_url(data[name])
    return data


def mask_url(url: str) -> str:
    """Hide the password of ``scheme://user:password@host`` and of a ``?password=`` query."""
    url = redact_query_secrets(url)
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://***@{host}"
