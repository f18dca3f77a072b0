"""Importing the package does nothing: no connection, no file read, no error on bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.helpers import ROOT
from tests.system.test_layers import GRAPH

PROBE = """
import builtins, socket, sys
touched = []
def refuse(self, *args, **kwargs):
    touched.append(("connect", args))
    raise OSError("no network at import")
socket.socket.connect = refuse
socket.create_connection = lambda *a, **k: refuse(None, *a)
real_open = builtins.open
def watched(file, *args, **kwargs):
    name = str(file)
    if not name.endswith((".py", ".pyc", ".pth", ".typed")) and "site-packages" not in name \
            and "/lib/python" not in name and "/worker/" not in name:
        touched.append(("open", name))
    return real_open(file, *args, **kwargs)
builtins.open = watched
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
from kombu.transport import redis as transport
patched = transport.QoS.ack.__module__.startswith("worker")
print(repr((touched, patched)))
"""


def test_importing_every_module_does_no_io(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ingest.toml").write_text("this is [not toml")
    store = tmp_path / "xdg" / "news-ingest"  # the embedded store's folder
    store.mkdir(parents=True)
    (store / "server.json").write_text('{"url": "redis://127.0.0.1:9/0"}')
    names = [m for m in sorted(GRAPH) if m != "worker.__main__"]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": str(ROOT),
        "INGEST_BATCH_SIZE": "0",  # invalid: must not fail at import
        "INGEST_REDIS_URL": "redis://127.0.0.1:9/0",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    touched, patched = eval(result.stdout.strip().splitlines()[-1])
    assert touched == []
    assert patched is False  # the kombu patch is applied by a worker process only
