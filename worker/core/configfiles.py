"""Where settings come from besides the defaults: the TOML config file and ``INGEST_*`` names.

The file is the one named by ``INGEST_CONFIG_FILE`` (which must exist), else
``config/ingest.toml`` when it exists. A key of that file or an ``INGEST_*`` variable that is
no setting stops the command with one line naming the closest valid name: a typo is never
ignored. ``worker.core.settings`` is the only caller.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from worker.core.errors import ConfigError

ENV_PREFIX = "INGEST_"
DEFAULT_CONFIG_FILE = Path("config/ingest.toml")
# INGEST_* names that are not settings: the config file itself, and docker-compose's image.
OTHER_VARIABLES = frozenset({"CONFIG_FILE", "IMAGE"})


def config_file(environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: the one named (which must exist), else the default if present."""
    named = environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if not named:
        return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None
    path = Path(named)
    if not path.is_file():
        raise ConfigError(f"INGEST_CONFIG_FILE: no such file {named!r}")
    return path


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
