"""Where settings come from besides the defaults: the TOML config file and ``INGEST_*`` names.

The file is the one named by ``INGEST_CONFIG_FILE`` (which must exist), else ``ingest.toml``
in the user's config folder when it exists (:func:`user_config_dir`); never a file of the
folder a command happens to run in. A relative path in the file (``feeds_file =
"feeds.toml"``) is taken from the file's own folder. A key of that file or an ``INGEST_*``
variable that is no setting stops the command with one line naming the closest valid name: a
typo is never ignored. ``worker.core.settings`` is the only caller.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from worker.core.errors import ConfigError

ENV_PREFIX = "INGEST_"
APP_FOLDER = "news-ingest"
CONFIG_NAME = "ingest.toml"
FEEDS_NAME = "feeds.toml"
# INGEST_* names that are not settings: the config file itself, and docker-compose's image.
OTHER_VARIABLES = frozenset({"CONFIG_FILE", "IMAGE"})


def user_config_dir(environ: Mapping[str, str]) -> Path:
    """The user's config folder: ``$XDG_CONFIG_HOME/news-ingest``, else
    ``~/.config/news-ingest``; on macOS ``~/Library/Application Support/news-ingest``."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_FOLDER
    xdg = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec: a relative value is invalid and ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / APP_FOLDER


def user_cache_dir(environ: Mapping[str, str]) -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME/news-ingest``, else
    ``~/.cache/news-ingest``; on macOS ``~/Library/Caches/news-ingest``."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_FOLDER
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / APP_FOLDER


def config_file(environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: the one named (which must exist), else the user's if present."""
    named = environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if not named:
        default = user_config_dir(environ) / CONFIG_NAME
        return default if default.is_file() else None
    path = Path(named)
    if not path.is_file():
        raise ConfigError(f"INGEST_CONFIG_FILE: no such file {named!r}")
    return path


def default_feeds_file() -> Path:
    """``feeds.toml`` in the user's config folder: where ``ingest feeds`` looks by default."""
    return user_config_dir(os.environ) / FEEDS_NAME


def relative_to_file(data: dict[str, Any], path: Path, path_keys: Collection[str]) -> None:
    """Make the relative paths among ``path_keys`` of a config file relative to its folder."""
    for key in path_keys:
        value = data.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            data[key] = str(path.parent / value)


def read_config(path: Path, fields: Collection[str]) -> dict[str, Any]:
    """The keys of a TOML config file; ConfigError for bad TOML or a key not in ``fields``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path}: cannot read it: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: not valid TOML: {e}") from e
    for key in data:
        if key not in fields:
            hint = closest(key, list(fields))
            raise ConfigError(f"config file {path}: unknown key {key!r}{hint}")
    return data


def check_variables(environ: Mapping[str, str], fields: Collection[str]) -> None:
    """ConfigError for an ``INGEST_*`` variable that is no setting (a typo is never ignored)."""
    valid = [f"{ENV_PREFIX}{name.upper()}" for name in fields]
    valid += [f"{ENV_PREFIX}{name}" for name in sorted(OTHER_VARIABLES)]
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in valid:
            hint = closest(name.upper(), valid) or f" (valid: {', '.join(valid)})"
            raise ConfigError(f"unknown variable {name}{hint}")


def closest(name: str, valid: list[str]) -> str:
    """``: did you mean X?`` for the closest valid name, or an empty string."""
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.7)
    return f": did you mean {match[0]}?" if match else ""
