"""Per-feed options end to end: `ingest run --feed` and a real worker apply the
subscription's headers, auth, filters; JSON Feed and media arrive as record fields;
secrets appear nowhere but in the request."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.sources.feedserver import FeedServer, Handler
from tests.support.helpers import ingest, reads
from worker.core.settings import Settings
from worker.storage.store import Store

LOOPBACK = "127.0.0.0/8"
PASSWORD, TOKEN = "pw-Zq81xv", "tok-Yh27pw"
BASIC = base64.b64encode(f"reader:{PASSWORD}".encode()).decode()

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Private</title>
<item><guid>p1</guid><title>Harbour reopens</title><description>Ships sail again.</description>
 <enclosure url="https://cdn.example/p1.mp3" type="audio/mpeg" length="12345"/>
 <media:content url="https://cdn.example/p1.jpg" type="image/jpeg" medium="image"/>
 <media:thumbnail url="javascript:alert(1)"/></item>
<item><guid>p2</guid><title>Sponsored: buy a boat</title><description>Ad.</description></item>
<item><guid>p3</guid><title>Council votes</title><description>On the budget.</description></item>
</channel></rss>"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Token news",
    "items": [
        {
            "id": "j1",
            "url": "https://token.example/j1",
            "title": "Rust in the kernel",
            "content_html": "<p>Rust lands.</p><p>More soon.</p>",
            "date_published": "2024-03-05T10:00:00Z",
            "authors": [{"name": "Ann"}],
            "tags": ["tech"],
            "attachments": [
                {"url": "https://cdn.example/j1.png", "mime_type": "image/png", "size_in_bytes": 9}
            ],
        },
        {"id": "j2", "title": "Gardening", "content_text": "Plant in spring."},
    ],
}


def guarded(expected: str, body: bytes, content_type: str) -> Callable[[Handler], None]:
    """A route that answers only requests carrying ``expected`` as Authorization."""

    def route(h: Handler) -> None:
        if h.headers.get("Authorization") != expected:
            h.reply(401, b"who are you?")
        else:
            h.reply(200, body, Content_Type=content_type)

    return route


@pytest.fixture
def server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.route("/private")(guarded(f"Basic {BASIC}", RSS, "application/rss+xml"))
    body = json.dumps(JSON_FEED).encode()
    server.route("/token")(guarded(f"Bearer {TOKEN}", body, "application/feed+json"))
    yield server
    server.close()


@pytest.fixture
def feeds_file(tmp_path: Path, server: FeedServer) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(
        f"""[defaults]
user_agent = "fleet-reader/1.0"

[[feed]]
url = "{server.url("/private")}"
headers = {{ "X-Team" = "news" }}
auth = {{ type = "basic", username = "reader", password_env = "FEED_PASSWORD" }}
block = ["sponsored"]

[[feed]]
url = "{server.url("/token")}"
auth = {{ type = "bearer", token_env = "FEED_TOKEN" }}
keep = ["(?-i:Rust)"]
"""
    )
    return path


def env(feeds_file: Path, **extra: str) -> dict[str, str]:
    return {
        "INGEST_FEEDS_FILE": str(feeds_file),
        "INGEST_FEED_ALLOWED_NETWORKS": LOOPBACK,
        **extra,
    }


def redis_dump(client: redis.Redis) -> str:
    """Every key and every value of the test Redis, as one string."""
    parts: list[str] = []
    readers = {
        "string": client.get,
        "hash": client.hgetall,
        "list": lambda k: client.lrange(k, 0, -1),
        "set": client.smembers,
        "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        "stream": client.xrange,
    }
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        assert kind in readers, kind
        parts.append(f"{key!r} {readers[kind](key)!r}")
    return "\n".join(parts)


def test_subscription_options_apply_and_secrets_stay_secret(
    redis_url: str, server: FeedServer, feeds_file: Path, store: Store, settings: Settings
) -> None:
    urls = [server.url("/private"), server.url("/token")]
    result = ingest(
        "run", "--feed", urls[0], "--feed", urls[1], "--json",
        url=redis_url, FEED_PASSWORD=PASSWORD, FEED_TOKEN=TOKEN, **env(feeds_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["outcome"], o.get("reason")) for o in lines] == [
        ("created", None),
        ("rejected", "entry.filtered"),
        ("created", None),
        ("created", None),
        ("rejected", "entry.filtered"),
    ]
    # The requests carried the subscription's headers and credentials.
    assert {s.path: s.headers["authorization"] for s in server.seen} == {
        "/private": f"Basic {BASIC}",
        "/token": f"Bearer {TOKEN}",
    }
    assert {s.headers["user-agent"] for s in server.seen} == {"fleet-reader/1.0"}
    assert {s.path: s.headers.get("x-team") for s in server.seen} == {
        "/private": "news",
        "/token": None,
    }
    # Filtered entries are rejections naming the rule, not silence.
    details = sorted(r.detail for r in reads(store).rejections())
    assert details[0].startswith('block: "sponsored" (')
    assert details[0].endswith("/p2)")
    assert details[1] == "keep: no rule matched (j2)"
    # Media from RSS enclosures and Media RSS; javascript: dropped; the JSON Feed item has
    # the fields an RSS item has.
    by_title = {r.title: r for r in reads(store).records()}
    harbour = by_title["Harbour reopens"]
    assert [m.model_dump(exclude_none=True) for m in harbour.media or []] == [
        {"url": "https://cdn.example/p1.mp3", "type": "audio/mpeg", "length": 12345},
        {"url": "https://cdn.example/p1.jpg", "type": "image/jpeg", "medium": "image"},
    ]
    assert harbour.image == "https://cdn.example/p1.jpg"
    rust = by_title["Rust in the kernel"]
    assert (rust.kind, rust.source, rust.guid, rust.url) == (
        "feed", urls[1], "j1", "https://token.example/j1",
    )  # fmt: skip
    assert (rust.paragraphs, rust.authors, rust.tags) == (
        ["Rust lands.", "More soon."],
        ["Ann"],
        ["tech"],
    )
    assert (rust.feed_title, rust.image) == ("Token news", "https://cdn.example/j1.png")
    assert rust.published is not None
    assert rust.published.isoformat() == "2024-03-05T10:00:00+00:00"
    shown = ingest("records", "show", harbour.id, url=redis_url, COLUMNS="200")
    assert "media: https://cdn.example/p1.jpg (image/jpeg)" in shown.stdout
    # The secrets are nowhere: not in Redis, not in the output, not in `ingest feeds`.
    feeds = ingest("feeds", "--json", url=redis_url, FEED_PASSWORD=PASSWORD, **env(feeds_file))
    assert feeds.returncode == 0, feeds.stderr
    states = [json.loads(line) for line in feeds.stdout.splitlines()]
    assert states[0]["options"]["auth"] == "basic (secret in $FEED_PASSWORD)"
    assert states[0]["options"]["headers"] == ["X-Team"]
    seen = redis_dump(store.client) + result.stdout + result.stderr + feeds.stdout + feeds.stderr
    for secret in (PASSWORD, TOKEN, BASIC):
        assert secret not in seen


def test_a_missing_secret_is_a_rejection_naming_the_variable(
    redis_url: str, server: FeedServer, feeds_file: Path, store: Store
) -> None:
    result = ingest(
        "run", "--feed", server.url("/token"), "--json", url=redis_url, **env(feeds_file)
    )
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["reason"] == "feed.auth_missing"
    [rejection] = reads(store).rejections()
    assert "FEED_TOKEN is not set" in rejection.detail
    assert server.seen == []  # never asked without the credentials it needs


@pytest.mark.parametrize(
    ("edit", "extra", "reason", "message"),
    [
        (("news", "nouvelles ✓"), {}, "feed.bad_config", "): headers.X-Team must be Latin-1"),
        (("reader/1.0", "reader ☃"), {}, "feed.bad_config", "user_agent must be Latin-1"),
        (None, {"FEED_TOKEN": "tok-✓"}, "feed.auth_missing", "FEED_TOKEN holds a character"),
    ],
)
def test_a_header_or_token_outside_latin1_is_one_line_not_a_crash(
    redis_url: str,
    server: FeedServer,
    feeds_file: Path,
    store: Store,
    edit: tuple[str, str] | None,
    extra: dict[str, str],
    reason: str,
    message: str,
) -> None:
    if edit:
        feeds_file.write_text(feeds_file.read_text().replace(*edit))
    url = server.url("/private" if edit else "/token")
    result = ingest("run", "--feed", url, "--json", url=redis_url, **env(feeds_file), **extra)
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["reason"] == reason
    assert "Traceback" not in result.stderr
    [rejection] = reads(store).rejections()
    assert message in rejection.detail
    assert "\n" not in rejection.detail
    assert server.seen == []


def test_json_feed_from_a_file_matches_the_same_feed_as_rss(
    redis_url: str, tmp_path: Path, store: Store
) -> None:
    (tmp_path / "news.json").write_text(json.dumps(JSON_FEED))
    result = ingest("run", "--feed", str(tmp_path / "news.json"), "--json", url=redis_url)
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["outcome"] for x in result.stdout.splitlines()] == ["created"] * 2
    gardening = next(r for r in reads(store).records() if r.title == "Gardening")
    assert (gardening.paragraphs, gardening.feed_title) == (["Plant in spring."], "Token news")


QUERY_SECRET = "qs-Vb38nd"


def test_a_secret_in_a_feed_query_is_used_but_never_shown(
    redis_url: str, server: FeedServer, tmp_path: Path, store: Store
) -> None:
    """The fetcher asks with the URL as configured; records, events and listings mask it."""
    server.route("/keyed")(lambda h: h.reply(200, RSS, Content_Type="application/rss+xml"))
    secret_url = server.url(f"/keyed?api_key={QUERY_SECRET}&lang=en")
    broken_url = server.url(f"/missing?access_token={QUERY_SECRET}")
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(f'[[feed]]\nurl = "{secret_url}"\n\n[[feed]]\nurl = "{broken_url}"\n')
    run = ingest(
        "run", "--feed", secret_url, "--feed", broken_url, "--json", url=redis_url, **env(feeds)
    )
    assert run.returncode == 0, run.stderr
    asked = {seen.path for seen in server.seen}  # as configured, in whichever order
    assert asked == {
        f"/keyed?api_key={QUERY_SECRET}&lang=en",
        f"/missing?access_token={QUERY_SECRET}",
    }
    listed = ingest("feeds", "--json", url=redis_url, **env(feeds))
    exported = ingest("feeds", "export", url=redis_url, **env(feeds))
    shown = "".join(
        r.stdout + r.stderr
        for r in (run, listed, exported, ingest("records", "list", url=redis_url))
    )
    records = [r.model_dump_json() for r in reads(store).records()]
    rejections = [r.model_dump_json() for r in reads(store).rejections()]
    events = [store.client.xrange(store.keys.events(name)) for name in ("records", "rejections")]
    assert (len(records), len(rejections)) == (3, 1)
    seen = shown + "".join(records + rejections) + repr(events)
    assert QUERY_SECRET not in seen
    assert "api_key=***&lang=en" in seen
    assert "access_token=***" in seen


@pytest.mark.parametrize("command", ["run", "enqueue"])
def test_credentials_in_a_feed_url_are_refused_before_anything_is_queued(
    redis_url: str, store: Store, command: str
) -> None:
    result = ingest(command, "--feed", f"https://me:{PASSWORD}@news.example/f", url=redis_url)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "https://***@news.example/f: credentials in a feed URL" in line
    assert PASSWORD not in result.stdout + result.stderr
    assert store.stats()["enqueued"] == 0
