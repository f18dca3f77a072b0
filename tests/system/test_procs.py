"""The suite's one way to run a child process (tests/support/procs.py), on real processes."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tests.support.procs import Child, clean_env, running
from tests.support.waits import wait_until

STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def python(code: str, **env: str) -> Child:
    return Child([sys.executable, "-c", code], clean_env(**env), name="probe")


def test_a_child_gets_no_ingest_variable_but_those_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_STRAY", "1")
    code = "import os; print(sorted(n for n in os.environ if n.startswith('INGEST_')))"
    with running(python(code, INGEST_GIVEN="2")) as child:
        assert child.wait(timeout=30) == 0
    assert child.output().strip() == "['INGEST_GIVEN']"


def test_a_child_that_ignores_sigterm_is_killed_with_its_group_on_the_way_out() -> None:
    with running(python(STUBBORN), ready="ready", stop_timeout=1) as child:
        pid = child.pid
        assert os.getsid(pid) == pid  # a session of its own: the group can be signalled
    assert child.popen.returncode == -signal.SIGKILL


def test_a_strict_stop_says_the_child_hung() -> None:
    child = python(STUBBORN).start()
    child.wait_for("ready", timeout=30)
    with pytest.raises(AssertionError, match=r"probe did not stop within 0\.5s"):
        child.stop(timeout=0.5, strict=True)
    assert not child.alive()


def test_waiting_for_a_child_that_died_fails_at_once_with_what_was_awaited() -> None:
    with running(python("raise SystemExit(3)")) as child:
        with pytest.raises(AssertionError, match=r"process died while waiting for probe: 'never'"):
            child.wait_for("never", timeout=60)
        assert child.popen.returncode == 3


def test_wait_until_names_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.2s waiting for nothing"):
        wait_until(lambda: False, timeout=0.2, what="nothing")
