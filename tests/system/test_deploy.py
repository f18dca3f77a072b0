"""The deployment files, checked offline: compose-spec validity and what an operator relies on."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.compose_helpers import (
    COMPOSE_FILE,
    duration_seconds,
    env_example,
    load_compose,
    resolved_compose,
    variables,
)
from tests.support.helpers import ROOT
from worker.core.settings import Settings

LONG_RUNNING = ("redis", "worker", "beat", "api", "flower", "metrics")
APP_SERVICES = ("worker", "beat", "api", "flower", "metrics", "producer")


def compose_schema() -> dict[str, Any]:
    """The compose-spec JSON Schema vendored by check-jsonschema (not copied here)."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text())  # type: ignore[no-any-return]


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(compose_schema())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_is_valid_compose_spec() -> None:
    assert schema_errors(load_compose()) == []
    assert schema_errors(resolved_compose()) == []


def test_the_schema_check_can_fail() -> None:
    broken = copy.deepcopy(load_compose())
    broken["services"]["worker"]["stop_grace_priod"] = "45s"
    broken["services"]["flower"]["depends_on"]["redis"]["condition"] = "service_happy"
    errors = schema_errors(broken)
    assert any("stop_grace_priod" in e for e in errors)
    assert any("service_happy" in e for e in errors)


def test_check_jsonschema_cli_accepts_the_compose_file() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_variable_is_in_env_example_and_every_example_is_used() -> None:
    used = variables(json.dumps(load_compose()))  # values only: comments may say ${X}
    listed = set(env_example())
    assert used - listed == set(), "variables missing from .env.example"
    assert listed - used == set(), ".env.example lists variables compose never reads"


SECRETS = ("redis_password", "rabbitmq_password", "flower_auth", "api_keys")


def test_secrets_are_files_never_environment_or_arguments() -> None:
    compose = load_compose()
    assert set(compose["secrets"]) == set(SECRETS)
    for name, spec in compose["secrets"].items():
        assert spec == {"file": "${SECRETS_DIR:-./secrets}/" + name}
    for name, service in resolved_compose()["services"].items():
        env = service.get("environment", {})
        for key, value in env.items():
            assert "PASSWORD" not in key or key.endswith("_FILE"), (name, key)
            assert not str(value).startswith("change-me"), (name, key)
            if key.endswith(("PASSWORD_FILE", "AUTH_FILE", "KEYS_FILE")) and value:
                assert str(value).startswith("/run/secrets/"), (name, key)
                assert str(value).removeprefix("/run/secrets/") in service["secrets"], (name, key)
        assert "INGEST_API_KEYS" not in env, name
        assert "FLOWER_BASIC_AUTH" not in env, name
        assert "@" not in str(env.get("INGEST_REDIS_URL", "")), name
        command = " ".join(service.get("command", []))
        assert "--requirepass" not in command, name  # an argument: visible in `ps`
    example = env_example()
    assert not any("PASSWORD" in key and not key.endswith("_FILE") for key in example)
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_dev_secrets_writes_private_random_files_once(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    first = subprocess.run(
        [str(ROOT / "dev"), "secrets", str(folder)], capture_output=True, text=True, check=True
    )
    assert "wrote" in first.stdout
    assert folder.stat().st_mode & 0o777 == 0o700
    values = {name: (folder / name).read_text() for name in SECRETS}
    assert len(values["redis_password"].strip()) == 48
    user, _, password = values["flower_auth"].strip().partition(":")
    assert user == "admin"
    assert len(password) == 48
    writer, reader = values["api_keys"].split()
    assert reader.endswith(":read")
    assert len(writer) == 64
    again = subprocess.run(
        [str(ROOT / "dev"), "secrets", str(folder)], capture_output=True, text=True, check=True
    )
    assert "nothing changed" in again.stdout
    assert {name: (folder / name).read_text() for name in SECRETS} == values
    other = tmp_path / "other"
    subprocess.run([str(ROOT / "dev"), "secrets", str(other)], capture_output=True, check=True)
    assert (other / "redis_password").read_text() != values["redis_password"]


def test_ingest_variables_are_settings_that_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    services = resolved_compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        for key in env:
            if key.startswith("INGEST_") and key != "INGEST_CONFIG_FILE":
                assert key[len("INGEST_") :].lower() in Settings.model_fields, key
        for key, value in env.items():
            # The image's files: read when used, not here.
            if not str(value).startswith(("/run/secrets/", "/app/config/")):
                monkeypatch.setenv(key, str(value))
        settings = Settings()
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.log_format == "json"
        for key in env:
            monkeypatch.delenv(key, raising=False)


def test_redis_is_persistent_private_password_protected_and_checked() -> None:
    redis = load_compose()["services"]["redis"]
    assert re.fullmatch(r"redis:7\.\d+(\.\d+)?(-[a-z0-9.]+)?", redis["image"]), redis["image"]
    assert "ports" not in redis, "Redis must not be published to the host by default"
    command = " ".join(redis["command"]).replace("$$", "$")
    assert "/usr/local/etc/redis/redis.conf" in command
    # The official entrypoint drops root (redis-server as the user redis).
    assert "exec docker-entrypoint.sh redis-server " in command
    assert "--include /run/redis-auth/auth.conf" in command
    assert redis["secrets"] == ["redis_password"]
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-data" in load_compose()["volumes"]
    assert "./config/redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    assert '--maxmemory "$REDIS_MAXMEMORY"' in command
    assert 'case "$pw" in ""|change-me*)' in command
    resolved = resolved_compose()["services"]["redis"]
    maxmemory = size_bytes(resolved["environment"]["REDIS_MAXMEMORY"])
    # The container's limit leaves room for the AOF rewrite's fork and client buffers.
    assert size_bytes(resolved["mem_limit"]) >= 1.5 * maxmemory
    conf = redis_conf()
    assert "maxmemory" not in conf  # one place: REDIS_MAXMEMORY
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert "dir" not in conf  # the image's working directory, /data, the volume


def size_bytes(value: str) -> float:
    """A Redis (``1gb``) or compose (``2g``, ``1536m``) memory size in bytes."""
    match = re.fullmatch(r"(\d+)([kmg]?)b?", value.lower())
    assert match, value
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    return int(match.group(1)) * units[match.group(2)]


def redis_conf() -> dict[str, str]:
    conf = {}
    for line in (ROOT / "config" / "redis.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    return conf


def test_long_running_services_have_healthchecks_and_restart() -> None:
    services = resolved_compose()["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check, name
        assert not check.get("disable"), name
        assert check.get("test"), name
        assert services[name]["restart"] == "unless-stopped", name
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_images_are_pinned() -> None:
    for name, service in resolved_compose()["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo, f"{name}: {image}"
        assert tag not in ("", "latest"), f"{name}: {image} is not pinned"
        assert re.match(r"\d+\.\d+", tag), f"{name}: {image} not pinned to a minor version"


def test_worker_stops_softly_within_its_grace_period() -> None:
    worker = resolved_compose()["services"]["worker"]
    env = worker["environment"]
    soft = float(env["INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT"])
    grace = duration_seconds(worker["stop_grace_period"])
    # Soft shutdown, then cancelling and requeueing, then the pool's exit: leave room.
    assert grace >= soft + 15, (grace, soft)
    # SIGTERM is Celery's warm shutdown (bounded by the app), not remapped to a cold one.
    assert "REMAP_SIGTERM" not in env
    assert "INGEST_WORKER_CONCURRENCY" in env
    assert worker["command"][:2] == ["ingest", "worker"]
    assert "%h" in " ".join(worker["command"]), "each scaled worker needs its own node name"
    assert "deploy" not in worker, "must scale with --scale"
    assert "container_name" not in worker, "must scale with --scale"


def test_beat_flower_metrics_and_producer() -> None:
    services = resolved_compose()["services"]
    beat = services["beat"]
    assert beat["command"][:5] == ["celery", "-A", "worker", "--quiet", "beat"]
    assert any(v.endswith(":/var/lib/ingest/beat") for v in beat["volumes"])
    assert "container_name" not in beat
    assert "deploy" not in beat
    flower = services["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH_FILE"] == "/run/secrets/flower_auth"
    assert flower["ports"] == ["127.0.0.1:5555:5555"]  # basic auth over HTTP: this host only
    metrics = services["metrics"]
    assert metrics["command"] == ["ingest", "metrics", "--serve"]
    assert metrics["ports"] == ["127.0.0.1:9808:9808"]
    api = services["api"]
    assert api["command"] == ["ingest", "serve"]
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert api["environment"]["INGEST_API_HOST"] == "0.0.0.0"
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    producer = services["producer"]
    assert producer["profiles"] == ["producer"]
    assert producer["restart"] == "no"
    assert "./seeds:/seeds:ro" in producer["volumes"]
    assert producer["command"] == ["ingest", "enqueue", "/seeds"]


def test_app_services_are_unprivileged_limited_and_read_config_read_only() -> None:
    services = resolved_compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["user"] == "10001:10001", name
        assert size_bytes(service["mem_limit"]) >= 256 * 1024**2, name
        assert float(service["cpus"]) > 0, name
        assert service["pids_limit"] > 0, name
        assert "./config:/app/config:ro" in service["volumes"], name
        env = service["environment"]
        assert env["INGEST_CONFIG_FILE"] == "/app/config/ingest.toml", name
        assert env["INGEST_FEEDS_FILE"] == "/app/config/feeds.toml", name


def test_rabbitmq_profile_runs_the_amqp_broker_the_docs_offer() -> None:
    rabbit = load_compose()["services"]["rabbitmq"]
    assert rabbit["profiles"] == ["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:\d+\.\d+(-[a-z0-9.]+)?", rabbit["image"])
    command = " ".join(rabbit["command"]).replace("$$", "$")
    assert "exec docker-entrypoint.sh rabbitmq-server" in command
    assert 'case "$pw" in ""|change-me*)' in command
    assert rabbit["secrets"] == ["rabbitmq_password"]
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbit["volumes"]
    assert "ports" not in rabbit
    example = (ROOT / ".env.example").read_text()
    assert "INGEST_BROKER_URL=amqp://ingest@rabbitmq:5672/" in example
    assert "INGEST_BROKER_PASSWORD_FILE=/run/secrets/rabbitmq_password" in example


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into stages."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("ARG"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_is_slim_pinned_unprivileged_and_checked() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2
    arg = re.search(r"ARG PYTHON_VERSION=(\S+)", (ROOT / "Dockerfile").read_text())
    assert arg
    assert re.fullmatch(r"3\.1[1-9]", arg.group(1))
    for stage in stages:
        assert re.match(r"FROM python:\$\{PYTHON_VERSION\}-slim-\w+", stage[0])
    build, final = stages
    assert any("build-essential" in line for line in build)
    # The locked, hash-checked dependencies, then the package without resolving again.
    # --no-deps: the venv's pip (23.2 on Python 3.11 images) refuses the hashed lock else.
    assert any("--no-deps --require-hashes -r requirements/image.txt" in line for line in build)
    assert any("pip install --no-deps ." in line for line in build)
    final_text = "\n".join(final)
    for tool in ("build-essential", "gcc", "apt-get install", "pip install"):
        assert tool not in final_text, f"{tool} in the final image"
    assert "COPY --from=build /opt/venv /opt/venv" in final
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK ") and "ingest" in line for line in final)
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in dockerignore
    assert ".git" in dockerignore


def test_the_image_builds_the_language_models_cache_as_its_user() -> None:
    # docs/commands.md: "The image builds it" (worker/text/langcache.py), in the folder of
    # the user the containers run as, after USER (root's would be another folder).
    final = dockerfile_stages()[1]
    user_at = max(i for i, line in enumerate(final) if line.startswith("USER "))
    warm = [i for i, line in enumerate(final) if "language import model; model()" in line]
    assert warm
    assert warm[0] > user_at
    assert "/home/ingest/.cache/news-ingest/langmodel-" in final[warm[0]]


def test_package_data_ships_every_file_the_package_reads() -> None:
    """The image installs the package (not editable): non-Python files must be package data."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["worker"]
    package = ROOT / "worker"
    data = [
        p.relative_to(package)
        for p in package.rglob("*")
        # The C kernels' source (setup.py's extension) and what the build makes of it.
        if p.is_file()
        and p.suffix not in (".py", ".pyc", ".c", ".so")
        and "__pycache__" not in p.parts
    ]
    assert data, "expected the Lua scripts at least"
    for path in data:
        # A setuptools glob does not descend into folders ("*.lua" misses lua/x.lua).
        shipped = any(
            len(path.parts) == len(Path(pattern).parts) and path.match(pattern)
            for pattern in patterns
        )
        assert shipped, f"{path} is not package data"


def locked(name: str) -> set[str]:
    lines = (ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
    return {
        re.split(r"[=; ]", line)[0].lower().replace("_", "-")
        for line in lines
        if line[:1].isalpha()
    }


def declared(specs: list[str]) -> set[str]:
    return {re.split(r"[\[<>=;! ]", spec)[0].lower().replace("_", "-") for spec in specs}


@pytest.mark.parametrize(
    ("lock", "extra"), [("run", None), ("image", "monitoring"), ("test", "test")]
)
def test_every_declared_dependency_is_locked(lock: str, extra: str | None) -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = declared(project["dependencies"])
    if extra:
        wanted |= declared(project["optional-dependencies"][extra])
    assert wanted - locked(lock) == set(), f"run ./dev lock: requirements/{lock}.txt is stale"
    text = (ROOT / "requirements" / f"{lock}.txt").read_text()
    pins = re.split(
        r"\n(?=[a-z])", text[text.index("\n") + 1 :] if not text[:1].isalpha() else text
    )
    assert all("==" in pin and "--hash=sha256:" in pin for pin in pins if pin.strip())


def test_pyproject_license_is_an_spdx_string() -> None:
    """A TOML table here makes setuptools warn "project.license as a TOML table is deprecated"."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
