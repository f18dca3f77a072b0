"""The feeds file's options: parsing, errors that name feed and key, secrets, TOML out."""

from __future__ import annotations

import base64
import string
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.errors import ConfigError, MissingSecret
from worker.text.feedsfile import (
    RESERVED_HEADERS,
    BasicAuth,
    BearerAuth,
    Defaults,
    Subscription,
    parse_feeds,
    to_toml,
)

FULL = """
[defaults]
user_agent = "reader/1.0 (+https://r.example/)"
proxy = "http://proxy.internal:3128"
per_host_concurrency = 2
per_host_delay = 1

[[feed]]
url = "https://a.example/feed.xml"

[[feed]]
url = " https://b.example/rss "
interval = 3600
enabled = false
title = "  B & co  "
category = "News/Tech"
full_text = true
headers = { "Accept-Language" = "en", "X-Key" = " v " }
auth = { type = "basic", username = "me", password_env = "B_PASSWORD" }
proxy = "http://other.example:8443"
keep = ["python", "(?-i:Rust)"]
block = ["sponsored"]

[[feed]]
url = "https://c.example/"
auth = { type = "bearer", token_env = "C_TOKEN" }

[[feed]]
url = "https://a.example/feed.xml"
title = "duplicate: the first one wins"
"""


def parse(text: str, default_interval: int = 900) -> Any:
    return parse_feeds(tomllib.loads(text), default_interval=default_interval)


def feed(extra: str) -> str:
    return f'[[feed]]\nurl = "https://x.example/f"\n{extra}\n'


def test_full_file() -> None:
    config = parse(FULL)
    assert config.defaults == Defaults(
        user_agent="reader/1.0 (+https://r.example/)",
        proxy="http://proxy.internal:3128",
        per_host_concurrency=2,
        per_host_delay=1.0,
    )
    assert config.feeds == [
        Subscription("https://a.example/feed.xml", 900),
        Subscription(
            url="https://b.example/rss",
            interval=3600,
            enabled=False,
            title="B & co",
            headers={"Accept-Language": "en", "X-Key": "v"},
            auth=BasicAuth("me", "B_PASSWORD"),
            proxy="http://other.example:8443",
            keep=["python", "(?-i:Rust)"],
            block=["sponsored"],
            full_text=True,
            category="News/Tech",
        ),
        Subscription("https://c.example/", 900, auth=BearerAuth("C_TOKEN")),
    ]


def test_empty_document() -> None:
    config = parse("")
    assert (config.defaults, config.feeds) == (Defaults(), [])


def test_defaults_of_defaults() -> None:
    assert Defaults() == Defaults(None, None, None, None)  # the settings apply


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[feed]\nurl = 'https://x/'", r"feeds are \[\[feed\]\] tables"),
        ("colour = 1", "feeds file: unknown key.* colour"),
        ("[defaults]\nuser_agnet = 'x'", r"\[defaults\]: unknown key.* user_agnet"),
        ("[defaults]\nper_host_concurrency = 0", "per_host_concurrency must be"),
        ("[defaults]\nper_host_delay = -1", "per_host_delay must be"),
        ("[defaults]\nper_host_delay = true", "per_host_delay must be"),
        ('[defaults]\nuser_agent = "a\\nb"', "user_agent must not contain control"),
        ("[defaults]\nproxy = 'socks5://p:1080'", "proxy must be an http"),
        ("[defaults]\nproxy = 'https://p:8443'", "proxy must be an http:// proxy"),
        ("[[feed]]\ninterval = 60", "feed 1: needs a url"),
        ("[[feed]]\nurl = 'ftp://x/'", "feed 1: url must be an http"),
        ("[[feed]]\nurl = 'javascript:alert(1)'", "feed 1: url must be an http"),
        ("[[feed]]\nurl = 'https://me:pw@x/f'", r"feed 1: url https://\*\*\*@x/f: credentials"),
        (feed("intervall = 60"), r"feed 1 \(https://x.example/f\): unknown key.* intervall"),
        (feed("interval = 5"), r"feed 1 \(https://x.example/f\): interval must be .* >= 10"),
        (feed("interval = 60.0"), "interval must be a whole number"),
        (feed("enabled = 'yes'"), "enabled must be true or false"),
        (feed("title = ''"), "title must be a non-empty string"),
        (feed('title = "a\\u0000b"'), "title must not contain control"),
        (feed("keep = 'python'"), "keep must be a list of strings"),
        (feed("block = ['x(?=y)']"), r'block rule "x\(\?=y\)": not a valid RE2 regular'),
        (feed("keep = ['(']"), r'keep rule "\(": not a valid RE2 regular expression'),
        (feed("headers = ['X: y']"), "headers must be a table"),
        (feed("headers = { 'Bad Name' = 'v' }"), "'Bad Name' is not a valid header name"),
        (feed('headers = { "X-A" = "v\\r\\nX-Evil: 1" }'), r"headers.X-A must not contain"),
        (feed("headers = { 'X-A' = 3 }"), r"headers.X-A must be a string"),
        (feed("headers = { 'X-A' = 'café ✓' }"), r"x.example/f\): headers.X-A must be Latin-1"),
        ('[defaults]\nuser_agent = "bot ☃"', r"\[defaults\]: user_agent must be Latin-1"),
        (feed("headers = { Authorization = 'Basic x' }"), r"Authorization is set .*use auth"),
        (feed("headers = { HOST = 'evil' }"), "HOST is set by the fetcher"),
        (feed("proxy = 'http://u:p@proxy:3128'"), "credentials in a proxy URL"),
        (feed("auth = 'me:pw'"), "auth must be a table with type"),
        (feed("auth = { type = 'digest' }"), "auth must be a table with type"),
        (feed("auth = { type = 'basic', username = 'me', password = 'pw' }"), "secrets stay"),
        (feed("auth = { type = 'bearer', token = 't' }"), "secrets stay out"),
        (feed("auth = { type = 'basic', username = 'a:b', password_env = 'P' }"), "':'"),
        (feed("auth = { type = 'basic', password_env = 'P' }"), "auth.username must be"),
        (feed("auth = { type = 'bearer', token_env = 'NOT-A-NAME' }"), "auth.token_env must"),
        (feed("auth = { type = 'bearer', token_env = 'T', x = 1 }"), r"auth: unknown key.* x"),
    ],
)
def test_errors_name_the_feed_and_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_error_names_the_right_feed() -> None:
    text = '[[feed]]\nurl = "https://ok/"\n[[feed]]\nurl = "https://bad/"\ninterval = 1\n'
    with pytest.raises(ConfigError, match=r"^feeds file, feed 2 \(https://bad/\): interval"):
        parse(text)


def test_default_interval_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="interval must be"):
        parse(feed(""), default_interval=3)


def test_basic_auth_resolves_from_the_environment() -> None:
    auth = BasicAuth("me", "PW")
    header = auth.resolve({"PW": "sécret:1"})
    assert header == {"Authorization": "Basic " + base64.b64encode("me:sécret:1".encode()).decode()}


def test_bearer_auth_resolves_from_the_environment() -> None:
    assert BearerAuth("TOK").resolve({"TOK": "abc"}) == {"Authorization": "Bearer abc"}


@pytest.mark.parametrize("environ", [{}, {"TOK": ""}])
def test_missing_secret_names_the_variable(environ: dict[str, str]) -> None:
    with pytest.raises(MissingSecret, match="environment variable TOK is not set"):
        BearerAuth("TOK").resolve(environ)


def test_secret_with_a_line_break_is_refused_without_echoing_it() -> None:
    with pytest.raises(MissingSecret, match="TOK holds a control character") as info:
        BearerAuth("TOK").resolve({"TOK": "abc\r\nX-Evil: 1"})
    assert "abc" not in str(info.value)


def test_a_token_outside_latin1_is_refused_without_echoing_it() -> None:
    with pytest.raises(MissingSecret, match="TOK holds a character outside Latin-1") as info:
        BearerAuth("TOK").resolve({"TOK": "abc✓"})
    assert "abc" not in str(info.value)
    assert BearerAuth("TOK").resolve({"TOK": "café"}) == {"Authorization": "Bearer café"}


def test_no_secret_in_repr_or_str() -> None:
    environ = {"B_PASSWORD": "hunter2-secret"}
    config = parse(FULL)
    sub = config.feeds[1]
    assert sub.auth is not None
    assert sub.auth.resolve(environ)
    for text in (repr(sub), str(sub), repr(config), str(sub.auth)):
        assert "hunter2" not in text
        assert "B_PASSWORD" in text


def test_to_toml_round_trips_the_full_file() -> None:
    config = parse(FULL)
    text = to_toml(config.feeds, default_interval=900)
    assert parse(text).feeds == config.feeds
    assert text.startswith('[[feed]]\nurl = "https://a.example/feed.xml"\n\n[[feed]]\n')
    assert "interval = 3600" in text
    assert text.count("interval") == 1


def test_to_toml_without_default_interval_writes_every_interval() -> None:
    subs = [Subscription("https://a/", 900), Subscription("https://b/", 60)]
    text = to_toml(subs)
    assert text.count("interval = ") == 2
    assert parse(text, default_interval=10).feeds == subs


def test_to_toml_escapes() -> None:
    sub = Subscription(
        'https://a/?q="x"', 900, title='Tom "\\" \t Jerry \u2028 \x85 end', category="A/B"
    )
    text = to_toml([sub])
    assert parse(text).feeds == [sub]


def test_to_toml_appends_to_an_existing_file() -> None:
    combined = FULL + "\n" + to_toml([Subscription("https://new.example/", 900, title="New")])
    assert parse(combined).feeds[-1] == Subscription("https://new.example/", 900, title="New")


TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f").filter(
        lambda c: c == "\t" or ord(c) >= 0x20
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and s)
HEADER = st.text(string.ascii_letters + string.digits + "-!#'*+.^_`|~", min_size=1, max_size=20)
ENV = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
SUB = st.builds(
    Subscription,
    url=st.builds(
        "https://{}.example/{}".format,
        st.text(string.ascii_lowercase, min_size=1),
        st.text(string.ascii_letters + "/?=&%", max_size=10),
    ),
    interval=st.integers(10, 10**9),
    enabled=st.booleans(),
    title=st.none() | TEXT,
    headers=st.dictionaries(
        HEADER.filter(lambda h: h.lower() not in RESERVED_HEADERS),
        TEXT.filter(lambda v: all(ord(c) <= 0xFF for c in v)),  # HTTP sends Latin-1
        max_size=3,
    ),
    auth=st.none()
    | st.builds(BasicAuth, TEXT.filter(lambda u: ":" not in u), ENV)
    | st.builds(BearerAuth, ENV),
    proxy=st.none() | st.just("http://proxy:3128"),
    keep=st.lists(st.sampled_from(["python", "(?-i:Go)", "rust|zig", "^Breaking"]), max_size=3),
    block=st.lists(st.sampled_from(["sponsored", r"\bad\b", "[[x]"]), max_size=3),
    full_text=st.booleans(),
    category=st.none() | TEXT,
)


@given(st.lists(SUB, max_size=4, unique_by=lambda s: s.url), st.integers(10, 1000))
def test_to_toml_round_trip(subs: list[Subscription], default_interval: int) -> None:
    text = to_toml(subs, default_interval=default_interval)
    assert parse(text, default_interval=default_interval).feeds == subs
