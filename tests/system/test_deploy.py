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
    ENV_EXAMPLE,
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


def test_secrets_are_required_not_defaulted() -> None:
    text = COMPOSE_FILE.read_text()
    for name in ("REDIS_PASSWORD", "FLOWER_USER", "FLOWER_PASSWORD", "INGEST_API_KEYS"):
        assert re.search(r"\$\{" + name + r":\?", text), f"{name} must be required (:?)"
        assert not re.search(r"\$\{" + name + r":-", text), f"{name} must not have a default"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_ingest_variables_are_settings_that_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    services = resolved_compose(REDIS_PASSWORD="a-real-secret")["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        for key in env:
            if key.startswith("INGEST_"):
                assert key[len("INGEST_") :].lower() in Settings.model_fields, key
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings = Settings()
        assert settings.redis_url is not None
        assert "@redis:6379" in settings.redis_url
        assert settings.log_format == "json"
        for key in env:
            monkeypatch.delenv(key)


def test_redis_is_persistent_private_password_protected_and_checked() -> None:
    redis = load_compose()["services"]["redis"]
    assert re.fullmatch(r"redis:7\.\d+(\.\d+)?(-[a-z0-9.]+)?", redis["image"]), redis["image"]
    assert "ports" not in redis, "Redis must not be published to the host by default"
    command = " ".join(redis["command"])
    assert "/usr/local/etc/redis/redis.conf" in command
    assert '--requirepass "$REDIS_PASSWORD"' in command.replace("$$", "$")
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-data" in load_compose()["volumes"]
    assert "./config/redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    assert '--maxmemory "$REDIS_MAXMEMORY"' in command.replace("$$", "$")
    assert 'case "$REDIS_PASSWORD" in change-me*)' in command.replace("$$", "$")
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
    assert env["REMAP_SIGTERM"] == "SIGQUIT"
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
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "admin:change-me-too"
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
    assert any("--require-hashes -r requirements/image.txt" in line for line in build)
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


def test_env_example_has_no_real_looking_secrets() -> None:
    example = env_example()
    assert example["REDIS_PASSWORD"].startswith("change-me")
    assert example["FLOWER_PASSWORD"].startswith("change-me")
    assert all(key.startswith("change-me") for key in example["INGEST_API_KEYS"].split(","))
    assert ENV_EXAMPLE.name == ".env.example"


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
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
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
