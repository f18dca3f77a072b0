"""docker-compose.yml as data, and its services' commands run as local processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.support.helpers import QUIET, ROOT, envelope_for, seed_bytes
from tests.support.procs import Child, clean_env, log_path
from worker.core.models import InputKind
from worker.core.protocol import TASK_PROCESS_BATCH
from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.queue.inputs import InputRef

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a dollar.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$\$")


def load_compose() -> dict[str, Any]:
    """The compose file as YAML gives it (anchors and merge keys resolved, not interpolated)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def env_example() -> dict[str, str]:
    """KEY=VALUE lines of .env.example (comments and blank lines skipped)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def variables(text: str) -> set[str]:
    """Names of the ${VARIABLES} a text refers to."""
    return {m.group(1) for m in _VARIABLE.finditer(text) if m.group(1)}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, applied to every string of a parsed file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: _substitute(m, env), value)
    return value


def _substitute(match: re.Match[str], env: dict[str, str]) -> str:
    if match.group(0) == "$$":
        return "$"
    name, colon, op, arg = match.groups()
    value = env.get(name)
    missing = value is None or (colon == ":" and value == "")
    if op == "-":
        return arg if missing else str(value)
    if op == "?":
        if missing:
            raise KeyError(f"{name} is required: {arg}")
        return str(value)
    return value or ""


def resolved_compose(**env: str) -> dict[str, Any]:
    """The compose file as `docker compose config` would see it with .env.example as .env.

    ``env`` overrides values of .env.example (e.g. a real password for its placeholder).
    """
    return interpolate(load_compose(), {**env_example(), **env})  # type: ignore[no-any-return]


def duration_seconds(value: str) -> float:
    """A compose duration (``45s``, ``1m30s``, ``2m``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    assert "".join(n + u for n, u in parts) == value, f"bad duration {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


class ServiceProcess(Child):
    """One compose service's command, run here as a process against the test Redis.

    ``ingest`` and ``celery`` run from this virtualenv; container paths are mapped to local
    folders (``/app/config`` to the checkout's ``config/``), in the command and in the
    environment; the service's environment is the compose one (with .env.example values)
    plus ``overrides`` (the private Redis URL, free ports). ``secrets`` are the contents of
    the compose secret files, written to a private folder mounted as ``/run/secrets``;
    without them, variables naming a secret file are left out (the overrides carry the
    password in the URL instead).
    """

    def __init__(
        self,
        service: str,
        overrides: dict[str, str],
        paths: dict[str, Path | str] | None = None,
        log_dir: Path | None = None,
        secrets: dict[str, str] | None = None,
    ) -> None:
        spec = resolved_compose()["services"][service]
        paths = {"/app/config": ROOT / "config", **(paths or {})}
        if secrets is not None:
            folder = Path(tempfile.mkdtemp(prefix="compose-secrets-"))
            for name, value in secrets.items():
                (folder / name).write_text(value + "\n")
            paths["/run/secrets"] = folder
        compose_env = {k: str(v) for k, v in spec.get("environment", {}).items()}
        if secrets is None:
            compose_env = {k: v for k, v in compose_env.items() if "/run/secrets/" not in v}
        env = clean_env(drop=("INGEST_", "FLOWER_"))
        env.update({k: local_path(v, paths) for k, v in compose_env.items()})
        env.update({"PYTHONWARNINGS": QUIET, **overrides})
        argv = local_argv(spec["command"], paths)
        log = log_path(f"compose-{service}", log_dir)
        super().__init__(argv, env, name=service, log=log)
        self.service = service
        self.mapped = {k: str(v) for k, v in paths.items()}

    def start(self) -> ServiceProcess:
        super().start()
        return self

    def run(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a one-shot service to completion."""
        return subprocess.run(
            self.argv,
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(  # type: ignore[override]
        self, timeout: float = 60
    ) -> int | None:
        """SIGTERM (what `docker stop` sends) and wait; SIGKILL the group if it hangs."""
        return super().stop(signal.SIGTERM, timeout, strict=True)


def local_path(value: str, paths: dict[str, Path | str]) -> str:
    """``value`` with each container path replaced by its local folder."""
    for container_path, local in paths.items():
        value = value.replace(container_path, str(local))
    return value


def local_argv(command: list[str], paths: dict[str, Path | str]) -> list[str]:
    """A container command line for this machine: our interpreter, local folders."""
    programs = {
        "ingest": [sys.executable, "-m", "worker"],
        "celery": [sys.executable, "-m", "celery"],
        "sh": ["sh"],
    }
    assert command[0] in programs, f"unexpected program {command[0]!r}"
    argv = list(programs[command[0]])
    argv += [local_path(arg, paths) for arg in command[1:]]
    return argv


def publish_one(settings: Settings, path: Path) -> None:
    """Publish one seed straight to the broker (the store is paused: no producer counts)."""
    path.write_bytes(seed_bytes("Held mid-write", "A paragraph that waits for the store."))
    envelope = envelope_for(
        InputRef(source=path.name, kind=InputKind.SEED, path=path), settings, None
    )
    app = make_app(settings, settings.redis_url)
    message = envelope.model_dump(mode="json", exclude_none=True)
    app.send_task(TASK_PROCESS_BATCH, args=[[message]], queue=settings.queue)


def healthcheck(service: str, env: dict[str, str], replace: dict[str, str]) -> int:
    """Run a service's compose healthcheck here; its exit code (0: healthy).

    ``CMD`` and ``CMD-SHELL`` forms both run with this virtualenv first on PATH (the image
    has its own there) and ``HOSTNAME`` set, as Docker sets it in a container.
    """
    test = resolved_compose()["services"][service]["healthcheck"]["test"]
    form, args = test[0], [_replaced(a, replace) for a in test[1:]]
    argv = args if form == "CMD" else ["sh", "-c", args[0]]
    assert form in ("CMD", "CMD-SHELL"), test
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    run_env = {**env, "PATH": path, "HOSTNAME": socket.gethostname()}
    done = subprocess.run(argv, env=run_env, cwd=ROOT, capture_output=True, timeout=120)
    return done.returncode


def _replaced(text: str, replace: dict[str, str]) -> str:
    for old, new in replace.items():
        text = text.replace(old, new)
    return text
