"""py3langid's naive Bayes model, scored with numpy: the same answer, a fraction of the cost.

py3langid finds its features (byte n-grams of 1 to 6 bytes) with an Aho-Corasick automaton
walked one byte at a time in Python, about 0.8 µs a byte. After each byte the automaton
is in the state of the longest suffix of the text read so far that is a node of its trie,
and a state's output (one row of the model's table, or none) is counted. That state can
be found for every byte at once: the node of the 1-byte suffix ending at byte ``i`` is the
trie child of the root for that byte, and the node of the ``k``-byte suffix is the trie child
of the ``(k - 1)``-byte suffix's node ending at ``i - 1``; the automaton's own transition
table gives the child, which is a trie child when its depth is ``k``. Six array look-ups
over the text (one per depth) replace the walk; the deepest node found is the state.
:func:`Model.classify` then scores as py3langid does (``log1p`` of the counts against
the model's table, a softmax at temperature ``sqrt(bytes)``): the same language and the
same confidence to 1e-5 (tests/text/test_langmodel.py compares the two on every sample).
Where the install built the compiled kernels (:mod:`worker.text.kernels`), a model walks
the automaton and scores in C instead, with the same answers (tests/text/test_kernels.py);
``compiled=False`` keeps it on numpy.

Building the model's depth table from py3langid's costs about 0.1 s once per process, on
top of py3langid's own load (0.6 to 1 s, the model's xz decompression). The tables are
py3langid's attributes, not its API: :func:`scorer` checks them on a sentence at load and
falls back to py3langid's own walk (:class:`Walker`) if they do not give its answer.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# What a model is checked on before use: against py3langid's own answer when built from its
# tables (:func:`scorer`), against the answer written beside them when read from the cache
# (:mod:`worker.text.langcache`).
CHECK_TEXT = "The minister opened the new railway line today."


@dataclass(frozen=True, slots=True)
class Model:
    """py3langid's tables, restricted to its identifier's languages, plus trie depths."""

    classes: tuple[str, ...]
    nextmove: npt.NDArray[np.uint32]  # the automaton: nextmove[rowbase[state] + byte]
    rowbase: npt.NDArray[np.intp]
    depth: npt.NDArray[np.int8]  # each state's trie depth (length of its n-gram)
    output: npt.NDArray[np.int64]  # each state's row of ptc, or -1
    ptc: npt.NDArray[np.float32]  # log P(feature | language): rows x languages, row-major
    pc: npt.NDArray[np.float32]  # log P(language)
    aliases: tuple[tuple[int, int], ...]  # (first, duplicate) columns of one label
    # False: scored by numpy, even where the compiled kernel is built (its tests compare).
    compiled: bool = True
    kernel: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.compiled:
            from worker.text.kernels import language_scorer

            kernel = language_scorer(self.nextmove, self.rowbase, self.output, self.ptc, self.pc)
            object.__setattr__(self, "kernel", kernel)

    def classify(self, text: str) -> tuple[str, float]:
        """The most probable language and its probability, as py3langid's ``classify``."""
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """:meth:`classify` of each text, scored together (a few numpy calls in all)."""
        if not texts:
            return []
        scores = self.probabilities([encoded(t) for t in texts])
        best = scores.argmax(axis=1)
        confidence = scores[np.arange(len(texts)), best]
        return [
            (self.classes[b], c) for b, c in zip(best.tolist(), confidence.tolist(), strict=True)
        ]

    def probabilities(self, datas: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """Posterior probability of each language (columns) for each UTF-8 text (rows)."""
        if self.kernel is None:
            scores = self._scores(datas)
        else:  # the same walk and sums, compiled (worker/text/_kernels.c)
            scores = np.empty((len(datas), len(self.classes)), dtype=np.float32)
            self.kernel.scores(list(datas), scores)
        for first_column, duplicate in self.aliases:
            scores[:, first_column] += scores[:, duplicate]
            scores[:, duplicate] = 0.0
        return scores

    def _scores(self, datas: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """:meth:`probabilities` by numpy, before the aliases' columns are merged."""
        lengths = np.fromiter(map(len, datas), dtype=np.intp, count=len(datas))
        found = self.output[self.states(b"".join(datas), lengths)]
        hit = found >= 0
        rows_of = self.ptc.shape[0]
        # (text, feature row) keys, sorted: int32 when they fit (a batch's do), sorted faster.
        kind = np.int32 if len(datas) * rows_of < 2**31 else np.int64
        doc = np.repeat(np.arange(len(datas), dtype=kind), lengths)[hit]
        keys = doc * rows_of + found[hit].astype(kind)
        keys.sort()
        edge = np.ones(keys.size + 1, dtype=bool)
        np.not_equal(keys[1:], keys[:-1], out=edge[1:-1])
        first = np.flatnonzero(edge)
        # One count per (text, feature row): log1p(count) weighs the row, as py3langid does.
        weights = np.log1p(np.diff(first).astype(np.float32))
        docs, rows = np.divmod(keys[first[:-1]], rows_of)
        scores: npt.NDArray[np.float32] = np.zeros((len(datas), len(self.classes)), np.float32)
        bounds = np.searchsorted(docs, np.arange(len(datas) + 1)).tolist()
        for d, (start, end) in enumerate(itertools.pairwise(bounds)):
            if end > start:  # the text's rows, weighed and summed: one matrix-vector product
                scores[d] = weights[start:end] @ self.ptc[rows[start:end]] + self.pc
        # A text without features keeps scores of 0: all languages alike (py3langid's too).
        scores *= (1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32)[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def states(
        self, data: bytes, lengths: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.intp]:
        """The automaton's state after each byte of ``data`` (see the module doc).

        ``lengths``: ``data`` is texts end to end, of these lengths; each starts afresh.
        """
        text = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
        if lengths is None:
            lengths = np.array([text.size], dtype=np.intp)
        starts = np.cumsum(lengths) - lengths
        offset = np.arange(text.size, dtype=np.intp) - np.repeat(starts, lengths)
        node = self.nextmove[self.rowbase[0] + text].astype(np.intp)
        found = self.depth[node] == 1
        state = np.where(found, node, 0)
        for k in range(2, int(self.depth.max()) + 1):
            if node.size <= 1 or not found.any():
                break
            node = self.nextmove[self.rowbase[node[:-1]] + text[k - 1 :]].astype(np.intp)
            # A k-gram ending at byte i is a node if its first k - 1 bytes are one (ending
            # at i - 1) and it lies within one text.
            found = found[:-1] & (self.depth[node] == k) & (offset[k - 1 :] >= k - 1)
            np.copyto(state[k - 1 :], node, where=found)
        return state


@dataclass(frozen=True, slots=True)
class Walker:
    """py3langid's own ``classify``, one text at a time: what :func:`scorer` falls back to."""

    identifier: Any

    def classify_many(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable language and its probability of each text."""
        return [(str(c), float(p)) for c, p in map(self.identifier.classify, texts)]


def scorer(identifier: Any) -> Model | Walker:
    """:func:`from_identifier`, or py3langid's own walk if its tables are not as expected.

    The model's tables are py3langid's attributes, not its API: a release that changes
    them gets the same answers, slowly, rather than wrong ones.
    """
    try:
        model = from_identifier(identifier)
        expected = identifier.classify(CHECK_TEXT)
        found = model.classify(CHECK_TEXT)
    except (AttributeError, IndexError, TypeError, ValueError):
        return Walker(identifier)
    if found[0] != expected[0] or abs(found[1] - float(expected[1])) > 1e-4:
        return Walker(identifier)
    return model


def from_identifier(identifier: Any) -> Model:
    """The model of a py3langid ``LanguageIdentifier`` (with its language restriction)."""
    table = identifier.tk_nextmove  # an array.array of 2 or 4-byte unsigned integers
    nextmove = np.frombuffer(table, dtype=table.typecode).astype(np.uint32, copy=False)
    rowbase = np.asarray(identifier.tk_row, dtype=np.intp) << 8
    classes = tuple(str(c) for c in identifier.nb_classes)
    return Model(
        classes=classes,
        nextmove=nextmove,
        rowbase=rowbase,
        depth=trie_depths(nextmove, rowbase),
        output=np.asarray(identifier.tk_output, dtype=np.int64),
        ptc=np.ascontiguousarray(identifier.nb_ptc, dtype=np.float32),  # a row per cache line
        pc=np.asarray(identifier.nb_pc, dtype=np.float32),
        aliases=_aliases(classes),
    )


def trie_depths(
    nextmove: npt.NDArray[np.uint32], rowbase: npt.NDArray[np.intp]
) -> npt.NDArray[np.int8]:
    """Each state's depth in the automaton's trie, breadth first from the root (state 0).

    A state first reached at depth ``k`` is the trie node of a ``k``-byte n-gram: reading
    any string leads to the node of its longest suffix in the trie, never a longer one.
    States share transition rows (py3langid stores each distinct row once): a row read
    at one depth finds nothing new at a later one, so each is read once.
    """
    depth = np.full(rowbase.size, -1, dtype=np.int8)
    depth[0] = 0
    frontier, level = np.zeros(1, dtype=np.intp), 0
    read = np.zeros(int(rowbase.max() >> 8) + 1, dtype=bool)
    every_byte = np.arange(256, dtype=np.intp)
    while frontier.size:
        rows = np.unique(rowbase[frontier] >> 8)
        rows = rows[~read[rows]]
        read[rows] = True
        reached = nextmove[(rows << 8)[:, None] + every_byte]
        level += 1
        frontier = np.unique(reached[depth[reached] < 0]).astype(np.intp)
        depth[frontier] = level
    return depth


def encoded(text: str) -> bytes:
    """The text as py3langid reads it: lower case if all upper case, NFC, UTF-8."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


def _aliases(classes: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    first: dict[str, int] = {}
    pairs = []
    for i, code in enumerate(classes):
        if code in first:
            pairs.append((first[code], i))
        else:
            first[code] = i
    return tuple(pairs)
