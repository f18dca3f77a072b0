"""The enrichment's compiled kernels, where the install built them; numpy where it did not.

``pip install`` compiles ``worker/text/_kernels.c`` when it finds a C compiler and Python's
headers. The extension is optional: without them the install goes on, and the signatures
and languages come from the numpy code (:mod:`worker.text.neardup`,
:mod:`worker.text.langmodel`), with the same answers at about twice the enrichment's cost
(docs/performance.md). :func:`compiled` tells which runs; the benchmarks print it.

Each kernel is made once per process from the tables of its numpy twin, which it checks
(every look-up stays inside them). This module imports none of the modules that use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy: a producer imports this module and never hashes
    import numpy.typing as npt

    from worker.text._kernels import LanguageScorer, MinHasher


@functools.cache
def module() -> ModuleType | None:
    """The compiled extension, or None where the install did not build it."""
    try:
        from worker.text import _kernels
    except ImportError:
        return None
    return _kernels


def compiled() -> bool:
    """Tell whether the compiled kernels run (else numpy does the same work)."""
    return module() is not None


def minhasher(positions: npt.ArrayLike, donors: npt.ArrayLike) -> MinHasher | None:
    """The compiled MinHash with these shingle multipliers and donor orders (uint64 and
    int64, see :mod:`worker.text.neardup`), or None without the extension."""
    kernels = module()
    if kernels is None:
        return None
    import numpy as np

    from worker.text.casefolds import fold_tables

    index, pool, longest = fold_tables()
    made: MinHasher = kernels.MinHasher(
        index,
        pool,
        longest,
        np.ascontiguousarray(positions, dtype=np.uint64),
        np.ascontiguousarray(donors, dtype=np.int64),
    )
    return made


def in_nfc(text: str) -> bool:
    """True when the text is in NFC by the kernels' character table; False when they are
    not built or it may not be (``unicodedata.is_normalized`` knows)."""
    check = _nfc_check()
    return check is not None and check(text)


@functools.cache
def _nfc_check() -> Callable[[str], bool] | None:
    kernels = module()
    if kernels is None:
        return None
    from worker.text.casefolds import fold_tables

    index = fold_tables()[0]
    in_nfc_by: Callable[[str, object], bool] = kernels.in_nfc
    return lambda text: in_nfc_by(text, index)


def language_scorer(
    nextmove: npt.ArrayLike,
    rowbase: npt.ArrayLike,
    output: npt.ArrayLike,
    ptc: npt.ArrayLike,
    pc: npt.ArrayLike,
) -> LanguageScorer | None:
    """The compiled scoring of a language model's tables (:class:`worker.text.langmodel.Model`'s),
    or None without the extension."""
    kernels = module()
    if kernels is None:
        return None
    import numpy as np

    made: LanguageScorer = kernels.LanguageScorer(
        np.ascontiguousarray(nextmove, dtype=np.uint32),
        np.ascontiguousarray(rowbase, dtype=np.int64),
        np.ascontiguousarray(output, dtype=np.int64),
        np.ascontiguousarray(ptc, dtype=np.float32),
        np.ascontiguousarray(pc, dtype=np.float32),
    )
    return made
