"""Where configuration is found: the named file, else the user's config folder, never the
folder a command runs in; secrets from files (compose `secrets:`), placeholders refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redis

from tests.support.helpers import ingest
from worker.core.errors import ConfigError
from worker.core.settings import Settings, api_key_lines, load_settings, masked
from worker.runtime.entry import check_flower_auth, flower_auth_from_file


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    (home / "news-ingest").mkdir(parents=True)
    return home / "news-ingest"


def test_the_user_config_folder_is_read_not_the_current_folder(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_home / "ingest.toml").write_text('batch_size = 7\nfeeds_file = "my-feeds.toml"\n')
    here = tmp_path / "elsewhere"
    (here / "config").mkdir(parents=True)
    (here / "config" / "ingest.toml").write_text("batch_size = 99\n")
    monkeypatch.chdir(here)
    settings = Settings()
    assert settings.batch_size == 7
    # A relative path in the file is taken from the file's own folder.
    assert settings.feeds_file == config_home / "my-feeds.toml"


def test_without_any_file_the_feeds_file_is_in_the_user_config_folder(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().feeds_file == config_home / "feeds.toml"


def test_the_named_file_wins_and_must_exist(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_home / "ingest.toml").write_text("batch_size = 7\n")
    named = tmp_path / "named.toml"
    named.write_text("batch_size = 11\n")
    monkeypatch.setenv("INGEST_CONFIG_FILE", str(named))
    assert Settings().batch_size == 11
    monkeypatch.setenv("INGEST_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="INGEST_CONFIG_FILE: no such file"):
        load_settings()


def test_ingest_config_says_which_file_it_read(tmp_path: Path) -> None:
    home = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(home)}
    shown = ingest("config", url=None, cwd=tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    assert f"# config file: none read (INGEST_CONFIG_FILE unset, no {home}" in shown.stdout
    assert f"# feeds file: {home}/news-ingest/feeds.toml (none yet" in shown.stdout
    (home / "news-ingest").mkdir(parents=True)
    (home / "news-ingest" / "ingest.toml").write_text("batch_size = 5\n")
    shown = ingest("config", url=None, cwd=tmp_path, **env)
    assert f"# config file: {home}/news-ingest/ingest.toml\n" in shown.stdout
    assert "INGEST_BATCH_SIZE=5" in shown.stdout
    as_json = json.loads(ingest("config", "--json", url=None, cwd=tmp_path, **env).stdout)
    assert as_json["config_file"] == f"{home}/news-ingest/ingest.toml"


def test_feeds_import_names_the_file_and_makes_no_config_folder_where_it_runs(
    tmp_path: Path,
) -> None:
    home, here = tmp_path / "xdg", tmp_path / "here"
    here.mkdir()
    opml = here / "subs.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline type="rss" text="A" '
        'xmlUrl="https://example.com/a.xml"/></body></opml>'
    )
    done = ingest("feeds", "import", str(opml), url=None, cwd=here, XDG_CONFIG_HOME=str(home))
    assert done.returncode == 0, done.stderr
    target = home / "news-ingest" / "feeds.toml"
    assert "added 1 feed" in done.stderr
    assert str(target) in done.stderr
    assert "https://example.com/a.xml" in target.read_text()
    assert not (here / "config").exists()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_password_file_completes_a_url_without_one(tmp_path: Path) -> None:
    secret = write(tmp_path / "redis_password", "s3cr3t/with:odd@chars\n")
    settings = Settings(redis_url="redis://redis:6379/0", redis_password_file=secret)
    assert settings.redis_url == "redis://:s3cr3t%2Fwith%3Aodd%40chars@redis:6379/0"
    assert "s3cr3t" not in json.dumps(masked(settings))
    broker = write(tmp_path / "rabbit", "r4bbit\n")
    settings = Settings(broker_url="amqp://ingest@rabbitmq:5672/", broker_password_file=broker)
    assert settings.broker_url == "amqp://ingest:r4bbit@rabbitmq:5672/"


@pytest.mark.parametrize(
    ("url", "content", "message"),
    [
        ("redis://:other@redis:6379/0", "s3cr3t", "keep one"),
        (None, "s3cr3t", "INGEST_REDIS_URL, which is not set"),
        ("redis://redis:6379/0", "change-me-please", "placeholder"),
        ("redis://redis:6379/0", "\n", "empty"),
        ("redis://redis:6379/0", None, "cannot read"),
    ],
)
def test_a_password_file_refuses_what_cannot_work(
    tmp_path: Path, url: str | None, content: str | None, message: str
) -> None:
    path = tmp_path / "redis_password"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(redis_url=url, redis_password_file=path)
    assert "s3cr3t" not in str(caught.value)
    assert "INGEST_REDIS_PASSWORD_FILE" in str(caught.value)


def test_a_password_file_reaches_a_real_server(redis_url: str, tmp_path: Path) -> None:
    password = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["password"]
    secret = write(tmp_path / "pw", password + "\n")
    bare = redis_url.replace(f":{password}@", "")
    done = ingest(
        "stats", "--json", url=None, INGEST_REDIS_URL=bare, INGEST_REDIS_PASSWORD_FILE=str(secret)
    )
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    refused = ingest("stats", url=None, INGEST_REDIS_URL=bare)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1


def test_placeholder_api_keys_are_refused(tmp_path: Path) -> None:
    keys = write(tmp_path / "api_keys", "change-me-writer-key-0123456789\n")
    with pytest.raises(ConfigError, match="INGEST_API_KEYS_FILE: a key is a placeholder"):
        api_key_lines(Settings(api_keys_file=keys))
    with pytest.raises(ConfigError, match="INGEST_API_KEYS: a key is a placeholder"):
        api_key_lines(Settings(api_keys="change-me-reader-key-0123456789:read"))
    real = write(tmp_path / "real", "a" * 32 + "\n" + "b" * 32 + ":read\n")
    assert api_key_lines(Settings(api_keys_file=real)) == ["a" * 32, "b" * 32 + ":read"]


def test_flower_auth_comes_from_its_file_and_leaves_no_unknown_flower_variable(
    tmp_path: Path,
) -> None:
    environ = {"FLOWER_BASIC_AUTH_FILE": str(write(tmp_path / "auth", "admin:a-real-one\n"))}
    flower_auth_from_file(environ)
    assert environ == {"FLOWER_BASIC_AUTH": "admin:a-real-one"}
    placeholder = {"FLOWER_BASIC_AUTH_FILE": str(write(tmp_path / "p", "admin:change-me-too"))}
    flower_auth_from_file(placeholder)
    with pytest.raises(ConfigError, match="placeholder"):
        check_flower_auth(placeholder)
    with pytest.raises(ConfigError, match="must hold user:password"):
        flower_auth_from_file({"FLOWER_BASIC_AUTH_FILE": str(write(tmp_path / "b", "nocolon"))})
    with pytest.raises(ConfigError, match="cannot read"):
        flower_auth_from_file({"FLOWER_BASIC_AUTH_FILE": str(tmp_path / "missing")})
    assert os.environ.get("FLOWER_BASIC_AUTH_FILE") is None
