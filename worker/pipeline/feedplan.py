"""The feeds file on disk: read, parse, and look a subscription up by URL.

``INGEST_FEEDS_FILE`` (default ``config/feeds.toml``) holds ``[defaults]`` and one
``[[feed]]`` table per subscription; :mod:`worker.text.feedsfile` checks its
content and docs/feeds.md documents every key. The file is read afresh whenever it
changed (its modification time and size), so beat and the workers follow edits without a
restart, and a worker fetching a feed by hand applies the same options as a poll.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from worker.core.errors import ConfigError, FeedFetchError, MissingSecret, Reason
from worker.core.settings import Settings
from worker.core.textsafe import redact_query_secrets
from worker.sources.fetch import RequestOptions
from worker.text.feedsfile import (
    Defaults,
    FeedsConfig,
    Subscription,
    parse_feeds,
    to_toml,
)
from worker.text.filters import Rules, compile_rules
from worker.text.opml import OpmlFeed

EMPTY = FeedsConfig(Defaults(), [])
_cache: dict[tuple[Path, int], tuple[tuple[int, int], FeedsConfig]] = {}


def load_feeds(path: Path, default_interval: int) -> FeedsConfig:
    """The checked feeds file (empty when it does not exist); ConfigError naming the fix."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return EMPTY
    except OSError as e:
        raise ConfigError(f"feeds file {path}: {e}") from e
    stamp, key = (stat.st_mtime_ns, stat.st_size), (path, default_interval)
    cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    config = _read(path, default_interval)
    _cache[key] = (stamp, config)
    return config


def _read(path: Path, default_interval: int) -> FeedsConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"feeds file {path}: {e}") from e
    return parse_feeds(data, default_interval=default_interval, where=f"feeds file {path}")


def settings_feeds(settings: Settings) -> FeedsConfig:
    """The feeds file the settings name (``INGEST_FEEDS_FILE``)."""
    return load_feeds(settings.feeds_file, settings.feed_interval)


@dataclass(frozen=True, slots=True)
class HostRules:
    """Per-host politeness: fetches at a time, seconds between two starts."""

    concurrency: int
    delay: float


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """What a fetch of one feed URL applies: request options, filters, host politeness."""

    options: RequestOptions
    rules: Rules
    host: HostRules


def plan_for(settings: Settings, url: str, environ: Mapping[str, str] = os.environ) -> FeedPlan:
    """The options of the subscription with this URL (defaults when none), secrets resolved.

    A feeds file that cannot be read, or an auth variable that is unset, fails the fetch
    (``feed.bad_config``, ``feed.auth_missing``): fetching without the options would send
    the request the subscriber did not ask for. The message names the fix, never a secret.
    """
    try:
        config = settings_feeds(settings)
        sub = next((s for s in config.feeds if s.url == url), None)
        headers = _headers(config.defaults, sub, environ)
    except MissingSecret as e:
        raise FeedFetchError(Reason.FEED_AUTH, str(e), source=url, retryable=True) from e
    except ConfigError as e:
        raise FeedFetchError(Reason.FEED_CONFIG, str(e), source=url, retryable=True) from e
    defaults = config.defaults
    return FeedPlan(
        options=RequestOptions(headers, (sub.proxy if sub else None) or defaults.proxy),
        rules=_rules(tuple(sub.keep), tuple(sub.block)) if sub else Rules(),
        host=host_rules(settings, defaults),
    )


def host_rules(settings: Settings, defaults: Defaults) -> HostRules:
    """The feeds file's per-host rules, else the settings' (feeds and their pages alike)."""
    return HostRules(
        defaults.per_host_concurrency or settings.feed_host_concurrency,
        settings.feed_host_delay if defaults.per_host_delay is None else defaults.per_host_delay,
    )


def _headers(
    defaults: Defaults, sub: Subscription | None, environ: Mapping[str, str]
) -> dict[str, str]:
    headers = {"User-Agent": defaults.user_agent} if defaults.user_agent else {}
    if sub is not None:
        headers |= sub.headers
        if sub.auth is not None:
            headers |= sub.auth.resolve(environ)
    return headers


@lru_cache(maxsize=1024)
def _rules(keep: tuple[str, ...], block: tuple[str, ...]) -> Rules:
    return compile_rules(keep, block)


def append_feeds(path: Path, found: list[OpmlFeed], default_interval: int) -> tuple[int, int]:
    """Append the feeds not yet subscribed to the feeds file; returns (added, skipped).

    The existing file is kept byte for byte and the new ``[[feed]]`` tables go after it;
    the whole result is checked before the file is replaced (atomically), so a bad import
    leaves the file as it was.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    known = {s.url for s in load_feeds(path, default_interval).feeds}
    new, seen = [], set(known)
    for feed in found:
        if feed.url not in seen:
            seen.add(feed.url)
            new.append(
                Subscription(feed.url, default_interval, title=feed.title, category=feed.category)
            )
    if new:
        joined = text + ("\n" if text and not text.endswith("\n") else "")
        joined += ("\n" if joined else "") + to_toml(new, default_interval=default_interval)
        try:
            parse_feeds(tomllib.loads(joined), default_interval=default_interval)
        except (tomllib.TOMLDecodeError, ConfigError) as e:
            raise ConfigError(f"feeds file {path}: the import would not read back: {e}") from e
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".importing")
        temporary.write_text(joined, encoding="utf-8")
        temporary.replace(path)
    return len(new), len(found) - len(new)


def as_opml(subs: list[Subscription]) -> list[OpmlFeed]:
    """The subscriptions as OPML outlines (URL, title, category), secret query values masked."""
    return [OpmlFeed(redact_query_secrets(s.url), s.title, s.category) for s in subs]
