"""Worker step helper: glibc's malloc keeps what a batch freed for the next batch.

glibc serves an allocation above ``M_MMAP_THRESHOLD`` (128 KB at start, raised as such
blocks are freed) with a mapping of its own, and gives the top of the heap back to the
system once more than ``M_TRIM_THRESHOLD`` of it is free. A batch's enrichment works on
arrays of a few hundred KB (the texts' bytes as 64-bit integers, the language model's
states): each came back from the system as fresh pages, which the kernel faults in and
zeroes one by one. Measured in-process on the bench corpus (batches of 200, after the
store's own work): the signatures' word hashes 38.7 µs per document with the defaults,
12.5 with the thresholds raised (docs/performance.md, third pass).

:func:`keep_freed_memory` raises both thresholds (:data:`MMAP_THRESHOLD`,
:data:`TRIM_THRESHOLD`) with ``mallopt``, once per process, before the pool forks (the
children inherit them). A worker process then holds on to up to :data:`TRIM_THRESHOLD` of
freed memory. On another C library (musl, macOS) nothing changes. ``mallopt`` is glibc's
documented interface (``man 3 mallopt``); its answer is checked: 1 is success.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

# From glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 8 * 2**20  # below this, blocks come from the heap and go back to it
TRIM_THRESHOLD = 32 * 2**20  # free memory kept at the heap's top


def glibc() -> bool:
    """Whether this process runs on glibc (``confstr`` answers only there)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # the name is unknown off glibc
        return False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; whether both took (False off glibc)."""
    if not glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = int(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) == 1
    done = int(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) == 1 and done
    if not done:
        log.warning("mallopt refused the allocator's thresholds: kept glibc's defaults")
    return done
