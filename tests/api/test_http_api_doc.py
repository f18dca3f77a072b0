"""The curl examples of docs/http-api.md, run as written against a real `ingest serve`."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api_helpers import READ_KEY, WRITE_KEY, ApiProcess
from tests.support.helpers import ROOT, WorkerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
    ),
]
DOC = ROOT / "docs" / "http-api.md"


def examples() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def api(redis_url: str) -> Iterator[ApiProcess]:
    proc = ApiProcess(redis_url).start()
    yield proc
    assert proc.stop() == 0


def test_the_doc_has_examples_of_every_route() -> None:
    text = "\n".join(examples())
    for route in (
        "/v1/documents",
        "/v1/feeds",
        "/v1/inputs/",
        "/v1/records",
        "/v1/rejections",
        "/v1/events",
        "/healthz",
        "/metrics",
    ):
        assert route in text, route


def test_the_curl_examples_work_as_written(api: ApiProcess, worker_proc: WorkerProcess) -> None:
    script = "set -eu\n" + "\n".join(examples())
    env = {"PATH": "/usr/bin:/bin", "API": api.base, "KEY": WRITE_KEY, "READ_KEY": READ_KEY}
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert '"outcome":"created"' in out
    assert '"title":"Harbour reopens"' in out
    assert '"records":[{' in out
    assert "event: created" in out
    assert '{"store":"ok","broker":"ok"}' in out
    assert "ingest_up 1" in out
    # The JSON form of the same document is a duplicate of the text one.
    records = httpx.get(f"{api.base}/v1/records", headers={"Authorization": f"Bearer {READ_KEY}"})
    assert len(records.json()["records"]) == 1
