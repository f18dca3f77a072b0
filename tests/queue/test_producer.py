"""The producer's folder walk (no Redis): order, hidden names, non-regular files."""

from __future__ import annotations

import os
from pathlib import Path

from worker.core.settings import Settings
from worker.queue.inputs import EnqueueReport, expand, file_origin, message_for
from worker.queue.producer import RETRY_POLICY, RetryPolicy


def test_folder_walk_order_hidden_names_and_special_files(tmp_path: Path) -> None:
    for rel in ("b.txt", "a.txt", "sub/z.txt", "sub/deeper/y.txt", "asub/x.txt", ".hidden.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")  # a link to a file is read
    (tmp_path / "dirlink").symlink_to(tmp_path / "sub", target_is_directory=True)
    report = EnqueueReport()
    refs = list(expand([str(tmp_path)], report))
    got = [str(r.path.relative_to(tmp_path)) for r in refs if r.path is not None]
    assert got == ["a.txt", "b.txt", "link.txt", "asub/x.txt", "sub/z.txt", "sub/deeper/y.txt"]
    assert [r.source for r in refs][:2] == ["a.txt", "b.txt"]
    skipped = sorted(Path(p).name for p, _ in report.skipped)
    assert skipped == ["dirlink", "pipe"]  # never followed (no cycles), and said so


def test_retry_policy_waits_grow_by_step_up_to_the_cap() -> None:
    assert list(RetryPolicy(4, 0.5, 1.0, 2.0).waits()) == [0.5, 1.5, 2.0, 2.0]
    assert list(RetryPolicy(max_retries=0).waits()) == []
    assert RETRY_POLICY.for_kombu() == {
        "max_retries": 5,
        "interval_start": 0.5,
        "interval_step": 1.0,
        "interval_max": 4.0,
    }


def test_the_walk_gives_each_file_the_origin_its_resolved_path_gives(tmp_path: Path) -> None:
    # The walk resolves a folder once (InputRef.resolved); the origin is what resolving
    # each file gives: through a linked folder, a relative path, or a link to a file.
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    for rel in ("a.txt", "sub/b.txt"):
        (real / rel).write_text("x")
    (real / "elsewhere.txt").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("y")
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    settings = Settings()
    for given in (str(tmp_path / "via"), os.path.relpath(real), str(real) + "/./sub/.."):
        refs = list(expand([given], EnqueueReport()))
        assert len(refs) == 3
        for ref in refs:
            assert ref.path is not None
            message, _ = message_for(ref, settings, None)
            assert message["origin"] == file_origin(ref.path)
        linked = next(r for r in refs if r.source == "elsewhere.txt")
        assert linked.resolved is None  # a link to a file: resolved on its own
        assert message_for(linked, settings, None)[0]["origin"] == file_origin(
            tmp_path / "outside.txt"
        )
