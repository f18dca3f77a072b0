"""worker.queue.allocator: glibc's thresholds raised in a worker process, nothing elsewhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from worker.queue import allocator

# How much of a 4 MB block glibc serves from a mapping of its own (mallinfo2's hblkhd).
MAPPED = """
import ctypes, sys
from worker.queue.allocator import keep_freed_memory
NAMES = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in NAMES.split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
before = libc.mallinfo2().hblkhd
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblkhd - before)
libc.free(ctypes.c_void_p(block))
"""


def mapped(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MAPPED, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not allocator.glibc(), reason="glibc only")
def test_a_tuned_process_serves_large_blocks_from_its_heap() -> None:
    # In children: the thresholds are process-wide, and this process keeps glibc's.
    assert mapped("default") >= 4 << 20  # a mapping of its own, given back when freed
    assert mapped("tuned") == 0  # from the heap, kept for the next batch


def test_off_glibc_nothing_is_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "glibc", lambda: False)
    assert allocator.keep_freed_memory() is False
