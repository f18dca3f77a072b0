"""The feeds file's options, checked: what each subscription asks for. Pure.

:func:`parse_feeds` takes the already-loaded TOML document (it reads no file)::

    [defaults]
    user_agent = "my-reader/1.0"
    proxy = "http://proxy.internal:3128"
    per_host_concurrency = 1      # fetches at a time per host (INGEST_FEED_HOST_CONCURRENCY)
    per_host_delay = 2.0          # seconds between two fetches from one host

    [[feed]]
    url = "https://example.com/feed.xml"
    interval = 900                # seconds, >= 10; default from the settings
    enabled = true
    title = "Example"
    category = "News/Tech"
    full_text = true              # article pages of short entries; default INGEST_FULL_TEXT
    headers = { "Accept-Language" = "en" }
    auth = { type = "basic", username = "me", password_env = "EXAMPLE_PASSWORD" }
    # auth = { type = "bearer", token_env = "EXAMPLE_TOKEN" }
    proxy = "http://other-proxy:3128"
    keep = ["python", "rust"]     # see worker.text.filters
    block = ["sponsored"]

Every error is a :class:`~worker.core.errors.ConfigError` naming the feed (its number and URL)
and the key; unknown keys are errors too. Secrets never live in the file nor in these
objects: ``auth`` names environment variables, and :meth:`BasicAuth.resolve` /
:meth:`BearerAuth.resolve` read them when a request is built. Header names are HTTP
tokens, values carry no control characters (no CR/LF header injection) and nothing past
Latin-1 (HTTP sends them as bytes; a bearer token is checked when resolved), and the headers
the fetcher owns (:data:`RESERVED_HEADERS`) cannot be set. Feed and proxy URLs are http(s)
without credentials (``user:pass@``: a feed's secrets go in ``auth``). A URL listed twice
keeps its first subscription.

:func:`to_toml` writes subscriptions back as ``[[feed]]`` tables (to append an OPML
import) that :func:`parse_feeds` reads to the same objects.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.core.errors import ConfigError, MissingSecret, RuleError
from worker.core.textsafe import redact_userinfo
from worker.text.filters import compile_rules
from worker.text.weburl import has_credentials, web_url

MIN_INTERVAL = 10
MAX_HEADERS = 30
MAX_TEXT = 500
RESERVED_HEADERS = frozenset(
    {
        "authorization", "proxy-authorization", "host", "content-length", "transfer-encoding",
        "connection", "te", "upgrade", "accept-encoding", "if-none-match", "if-modified-since",
    }
)  # fmt: skip
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic: the user name, and the environment variable holding the password."""

    username: str
    password_env: str

    def resolve(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The Authorization header, reading the password from ``environ``."""
        pair = f"{self.username}:{_secret(environ, self.password_env)}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


@dataclass(frozen=True, slots=True)
class BearerAuth:
    """A bearer token, held by the named environment variable."""

    token_env: str

    def resolve(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The Authorization header, reading the token from ``environ``."""
        return {"Authorization": "Bearer " + _secret(environ, self.token_env)}


Auth = BasicAuth | BearerAuth


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed to poll and how: interval in seconds, request options, filters."""

    url: str
    interval: int
    enabled: bool = True
    title: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: Auth | None = None
    proxy: str | None = None
    keep: list[str] = field(default_factory=list)
    block: list[str] = field(default_factory=list)
    full_text: bool | None = None  # None: INGEST_FULL_TEXT decides
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Defaults:
    """The ``[defaults]`` table: user agent, proxy, and per-host politeness."""

    user_agent: str | None = None
    proxy: str | None = None
    per_host_concurrency: int | None = None  # None: the setting applies
    per_host_delay: float | None = None


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    """A checked feeds file: its defaults and its subscriptions, first of each URL."""

    defaults: Defaults
    feeds: list[Subscription]


def parse_feeds(
    data: Mapping[str, Any], *, default_interval: int, where: str = "feeds file"
) -> FeedsConfig:
    """Check a loaded feeds TOML document; ConfigError naming the feed and key if bad."""
    _no_unknown(data, {"defaults", "feed"}, where)
    defaults = parse_defaults(data.get("defaults", {}), f"{where}, [defaults]")
    tables = data.get("feed", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{where}: feeds are [[feed]] tables (double brackets)")
    found: dict[str, Subscription] = {}
    for n, table in enumerate(tables):
        sub = parse_subscription(table, default_interval, f"{where}, feed {n + 1}")
        found.setdefault(sub.url, sub)
    return FeedsConfig(defaults, list(found.values()))


def parse_defaults(table: Any, where: str) -> Defaults:
    """The ``[defaults]`` table, checked."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    _no_unknown(table, set(Defaults.__dataclass_fields__), where)
    return Defaults(**{k: _DEFAULT_KEYS[k](v, f"{where}: {k}") for k, v in table.items()})


def parse_subscription(table: Any, default_interval: int, where: str) -> Subscription:
    """One ``[[feed]]`` table, checked."""
    if not isinstance(table, dict) or not isinstance(table.get("url"), str):
        raise ConfigError(f"{where}: needs a url")
    url = _url(table["url"], f"{where}: url")
    where = f"{where} ({url})"
    _no_unknown(table, set(Subscription.__dataclass_fields__), where)
    options = {k: _FEED_KEYS[k](v, f"{where}: {k}") for k, v in table.items() if k != "url"}
    options.setdefault("interval", _interval(default_interval, f"{where}: interval"))
    try:
        compile_rules(options.get("keep", []), options.get("block", []))
    except RuleError as e:
        raise ConfigError(f"{where}: {e}") from e
    return Subscription(url=url, **options)


def _no_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in table if k not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _url(value: Any, where: str) -> str:
    url = _any_url(value, where)
    if has_credentials(url):
        shown = redact_userinfo(url)
        raise ConfigError(f"{where} {shown}: credentials in a feed URL are not accepted; use auth")
    return url


def _any_url(value: Any, where: str) -> str:
    url = web_url(value)
    if url is None:
        shown = redact_userinfo(str(value)[:200])
        raise ConfigError(f"{where} must be an http:// or https:// URL: {shown!r}")
    return url


def _proxy(value: Any, where: str) -> str:
    url = _any_url(value, where)
    if has_credentials(url):
        raise ConfigError(f"{where}: credentials in a proxy URL would be logged; not allowed")
    if not url.lower().startswith("http://"):
        raise ConfigError(f"{where} must be an http:// proxy (https feeds tunnel through it)")
    return url


def _interval(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_INTERVAL:
        raise ConfigError(f"{where} must be a whole number of seconds >= {MIN_INTERVAL}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ConfigError(f"{where} must be a non-empty string of at most {MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise ConfigError(f"{where} must not contain control characters")
    return value.strip()


def _patterns(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return list(value)


def _headers(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise ConfigError(f"{where} must be a table of at most {MAX_HEADERS} headers")
    return {_header_name(k, where): _header_value(v, f"{where}.{k}") for k, v in value.items()}


def _header_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise ConfigError(f"{where}: {str(name)[:100]!r} is not a valid header name")
    if name.lower() in RESERVED_HEADERS:
        hint = " (use auth)" if "authorization" in name.lower() else ""
        raise ConfigError(f"{where}: {name} is set by the fetcher, not here{hint}")
    return name


def _header_value(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise ConfigError(f"{where} must be a string of at most 4096 characters")
    if _CONTROL.search(value):
        raise ConfigError(f"{where} must not contain control characters (CR, LF, ...)")
    if (char := _not_latin1(value)) is not None:
        raise ConfigError(f"{where} must be Latin-1 (HTTP sends header bytes): {char} is not")
    return value.strip()


def _not_latin1(value: str) -> str | None:
    """The first character HTTP/1.1 cannot send in a header (U+XXXX), or None."""
    char = next((c for c in value if ord(c) > 0xFF), None)
    return None if char is None else f"U+{ord(char):04X}"


def _auth(value: Any, where: str) -> Auth:
    if not isinstance(value, dict) or value.get("type") not in ("basic", "bearer"):
        raise ConfigError(f'{where} must be a table with type = "basic" or "bearer"')
    if "password" in value or "token" in value:
        raise ConfigError(f"{where}: secrets stay out of this file: name an environment variable")
    if value["type"] == "basic":
        _no_unknown(value, {"type", "username", "password_env"}, where)
        username = _text(value.get("username"), f"{where}.username")
        if ":" in username:
            raise ConfigError(f"{where}.username must not contain ':'")
        return BasicAuth(username, _env_name(value.get("password_env"), f"{where}.password_env"))
    _no_unknown(value, {"type", "token_env"}, where)
    return BearerAuth(_env_name(value.get("token_env"), f"{where}.token_env"))


def _env_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError(f"{where} must name an environment variable (letters, digits, _)")
    return value


def _secret(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise MissingSecret(f"environment variable {name} is not set (feed auth)")
    if _CONTROL.search(value):
        raise MissingSecret(f"environment variable {name} holds a control character")
    if _not_latin1(value) is not None:  # a bearer token goes into a header as it is
        raise MissingSecret(f"environment variable {name} holds a character outside Latin-1")
    return value


def _concurrency(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ConfigError(f"{where} must be a whole number from 1 to 64")
    return value


def _delay(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise ConfigError(f"{where} must be a number of seconds from 0 to 3600")
    return float(value)


_FEED_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "interval": _interval,
    "enabled": _bool,
    "title": _text,
    "headers": _headers,
    "auth": _auth,
    "proxy": _proxy,
    "keep": _patterns,
    "block": _patterns,
    "full_text": _bool,
    "category": _text,
}
_DEFAULT_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "user_agent": _header_value,
    "proxy": _proxy,
    "per_host_concurrency": _concurrency,
    "per_host_delay": _delay,
}


def to_toml(subs: list[Subscription], *, default_interval: int | None = None) -> str:
    """``[[feed]]`` tables for the subscriptions, leaving out values that are the default."""
    return "\n".join(_table(sub, default_interval) for sub in subs)


def _table(sub: Subscription, default_interval: int | None) -> str:
    defaults = Subscription(sub.url, default_interval or -1)
    lines = ["[[feed]]"]
    for name in Subscription.__dataclass_fields__:
        value = getattr(sub, name)
        if name == "url" or value != getattr(defaults, name):
            lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """A TOML value for the types a Subscription holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON string escapes are TOML's, but for DEL, which TOML wants escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, BasicAuth | BearerAuth):
        kind = {"type": "basic" if isinstance(value, BasicAuth) else "bearer"}
        return _toml(kind | {k: getattr(value, k) for k in value.__dataclass_fields__})
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")
