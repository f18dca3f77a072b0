"""The feeds file on disk: read, parse, and look a subscription up by URL.

``INGEST_FEEDS_FILE`` (default ``config/feeds.toml``) holds ``[defaults]`` and one
``[[feed]]`` table per subscription; :mod:`worker.text.subscriptions` checks its
content and docs/feeds.md documents every key. The file is read afresh whenever it
changed (its modification time and size), so beat and the workers follow edits without a
restart, and a worker fetching a feed by hand applies the same options as a poll.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from worker.core.errors import ConfigError
from worker.core.settings import Settings
from worker.text.subscriptions import Defaults, FeedsConfig, Subscription, parse_feeds

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


def subscription_for(settings: Settings, url: str) -> Subscription | None:
    """The subscription whose URL is ``url``, if the feeds file has one."""
    return next((s for s in settings_feeds(settings).feeds if s.url == url), None)
