"""The suite reads none of the developer's own settings: no INGEST_* variable, no config/.

The root conftest removes every ``INGEST_*`` variable and runs each test from an empty
folder (``clean_environment``). The last test runs pytest itself with a typo, a Redis URL
that answers nothing and a broken ``config/ingest.toml`` in its folder, and expects a pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.helpers import ROOT
from worker.core.settings import Settings

HERE = Path(__file__).resolve()
NO_INGEST = "import os; print(sorted(n for n in os.environ if n.startswith('INGEST_')))"


def test_no_developer_setting_reaches_a_test() -> None:
    assert [name for name in os.environ if name.startswith("INGEST_")] == []
    assert not Path("config").exists()
    assert Settings().namespace == Settings.model_fields["namespace"].default


def test_a_child_with_the_inherited_environment_sees_no_ingest_variable() -> None:
    done = subprocess.run([sys.executable, "-c", NO_INGEST], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_developers_variables_and_config_folder_do_not_reach_the_suite(
    tmp_path: Path,
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ingest.toml").write_text('namespace = "cwd"\nno_such_key = 1\n')
    env = {
        **os.environ,
        "INGEST_TYPO": "1",
        "INGEST_REDIS_URL": "redis://127.0.0.1:1/0",
        "INGEST_NAMESPACE": "developer",
    }
    nodes = [
        f"{HERE}::test_no_developer_setting_reaches_a_test",
        f"{HERE}::test_a_child_with_the_inherited_environment_sees_no_ingest_variable",
        f"{ROOT / 'tests' / 'storage' / 'test_store.py'}::test_created_then_duplicate[valkey]",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *nodes],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout
