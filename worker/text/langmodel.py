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

Building the model's depth table from py3langid's costs about 0.1 s once per process, on
top of py3langid's own load (0.6 to 1 s, the model's xz decompression).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Below this many bytes py3langid's own walk is cheaper than a dozen numpy calls.
SHORT_BYTES = 48


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
    identifier: Any  # py3langid's, for short texts

    def classify(self, text: str) -> tuple[str, float]:
        """The most probable language and its probability, as py3langid's ``classify``."""
        data = encoded(text)
        if len(data) < SHORT_BYTES:
            code, confidence = self.identifier.classify(text)
            return str(code), float(confidence)
        scores = self.probabilities(data)
        best = int(scores.argmax())
        return self.classes[best], float(scores[best])

    def probabilities(self, data: bytes) -> npt.NDArray[np.float32]:
        """Posterior probability of each language for UTF-8 ``data`` (py3langid's encoding)."""
        found = self.output[self.states(data)]
        found = found[found >= 0]
        scores: npt.NDArray[np.float32]
        if found.size == 0:
            scores = np.zeros(len(self.classes), dtype=np.float32)
        else:
            rows, counts = np.unique(found, return_counts=True)
            weights = np.log1p(counts.astype(np.float32))
            scores = weights @ self.ptc[rows] + self.pc
        scores *= np.float32(1.0 / math.sqrt(len(data) or 1))
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        for first, duplicate in self.aliases:
            scores[first] += scores[duplicate]
            scores[duplicate] = 0.0
        return scores

    def states(self, data: bytes) -> npt.NDArray[np.intp]:
        """The automaton's state after each byte of ``data`` (see the module doc)."""
        text = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
        node = self.nextmove[self.rowbase[0] + text].astype(np.intp)
        found = self.depth[node] == 1
        state = np.where(found, node, 0)
        for k in range(2, int(self.depth.max()) + 1):
            if node.size <= 1 or not found.any():
                break
            node = self.nextmove[self.rowbase[node[:-1]] + text[k - 1 :]].astype(np.intp)
            found = found[:-1] & (self.depth[node] == k)
            state[k - 1 :][found] = node[found]
        return state


def from_identifier(identifier: Any) -> Model:
    """The model of a py3langid ``LanguageIdentifier`` (with its language restriction)."""
    nextmove = np.frombuffer(identifier.tk_nextmove, dtype=np.uint32)
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
        identifier=identifier,
    )


def trie_depths(
    nextmove: npt.NDArray[np.uint32], rowbase: npt.NDArray[np.intp]
) -> npt.NDArray[np.int8]:
    """Each state's depth in the automaton's trie, breadth first from the root (state 0).

    A state first reached at depth ``k`` is the trie node of a ``k``-byte n-gram: reading
    any string leads to the node of its longest suffix in the trie, never a longer one.
    """
    depth = np.full(rowbase.size, -1, dtype=np.int8)
    depth[0] = 0
    frontier, level = np.zeros(1, dtype=np.intp), 0
    every_byte = np.arange(256, dtype=np.intp)
    while frontier.size:
        reached = nextmove[rowbase[frontier][:, None] + every_byte]
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
