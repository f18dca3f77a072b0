"""Feed subscriptions: the TOML file beat polls, read afresh at every poll.

``INGEST_FEEDS_FILE`` (default ``config/feeds.toml``)::

    [[feed]]
    url = "https://example.com/feed.xml"
    interval = 900            # seconds; default INGEST_FEED_INTERVAL
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed to poll, with its interval in seconds."""

    url: str
    interval: int


def load_subscriptions(path: Path, default_interval: int) -> list[Subscription]:
    """The subscriptions of a TOML file (none when it does not exist); ConfigError if bad."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"feeds file {path}: {e}") from e
    found: dict[str, Subscription] = {}
    for n, item in enumerate(data.get("feed", [])):
        sub = _subscription(item, default_interval, f"feeds file {path}, feed {n + 1}")
        found.setdefault(sub.url, sub)
    return list(found.values())


def _subscription(item: Any, default_interval: int, where: str) -> Subscription:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        raise ConfigError(f"{where}: needs a url")
    url, interval = item["url"].strip(), item.get("interval", default_interval)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: url must start with http:// or https://: {url!r}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 10:
        raise ConfigError(f"{where}: interval must be a whole number of seconds >= 10")
    return Subscription(url, interval)
