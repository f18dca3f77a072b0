"""Language of a text: an ISO 639-1 code and a confidence, from py3langid's bundled model.

py3langid (a maintained fork of langid.py) ships its naive Bayes model of byte n-grams
inside its wheel (4.6 MB, numpy only): nothing is downloaded. The model is loaded on the
first call of :func:`detect`, never at import: 0.7 to 1 s the first time, a few milliseconds
once its tables are in the user's cache folder (:mod:`worker.text.langcache`).
:func:`detect` scores it with numpy (:mod:`worker.text.langmodel`): py3langid's answer
and confidence, without its byte-by-byte walk in Python (0.8 µs a byte). The pipeline
passes the title and the start of the text, 256 bytes of UTF-8 in all
(:data:`worker.pipeline.enrich.LANGUAGE_BYTES`): on the benchmarks' corpora the answer is
the same as with the first 2,000 characters on every document.

**Too short to tell.** Below :data:`MIN_LETTERS` letters (``str.isalpha``: digits,
punctuation and markup do not count) :func:`detect` answers ``(None, 0.0)``. Twenty
letters are a short headline in a Latin script and a full sentence in Chinese or Japanese.

**Confidence.** py3langid's ``norm_probs`` softmax over the candidate languages, with its
scores scaled by ``1/sqrt(bytes)`` so that long texts are not all at 1.0: a number in
``[0, 1]``, the model's posterior probability of the answer among :data:`LANGUAGES`.

**Candidate languages.** The model knows 97 languages; restricting it to the ones news
sources are written in removes close neighbours that short paragraphs confuse (Galician
for Portuguese, Catalan for Spanish, Afrikaans for Dutch, Malay for Indonesian, Latin...).
:data:`LANGUAGES` lists the 30 kept; see ``benchmarks/language_accuracy.py`` for the
measured figures. The full model also answers codes that are not ISO 639-1 (``ary``,
``hbo``, ``zxx``...), another reason to restrict it. On the 13-language sample set both
are right on every whole paragraph; cut to 25 characters the restricted model scores 0.977
(the full one 0.973, lingua-language-detector 0.977 at ten times the cost and a 96 MB
wheel). Pass ``languages=None`` to :func:`identifier` for the full model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy: a producer imports this module and never detects
    from worker.text.langmodel import Model, Walker

MIN_LETTERS = 20
LANGUAGES: tuple[str, ...] = (
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id",
    "it", "ja", "ko", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sv", "th", "tr", "uk", "zh",
)  # fmt: skip


def detect(text: str) -> tuple[str | None, float]:
    """ISO 639-1 code of the text's language and the confidence in ``[0, 1]``.

    ``(None, 0.0)`` when the text has fewer than :data:`MIN_LETTERS` letters.
    """
    return detect_many([text])[0]


def detect_many(texts: Sequence[str]) -> list[tuple[str | None, float]]:
    """:func:`detect` of each text, scored together: a batch costs a few numpy calls."""
    telling = [i for i, text in enumerate(texts) if has_letters(text, MIN_LETTERS)]
    found: list[tuple[str | None, float]] = [(None, 0.0)] * len(texts)
    if telling:
        answers = model().classify_many([texts[i] for i in telling])
        for i, (code, confidence) in zip(telling, answers, strict=True):
            found[i] = code, min(1.0, max(0.0, confidence))
    return found


def has_letters(text: str, count: int) -> bool:
    """Tell whether the text has at least ``count`` letters, any script (stops there)."""
    for char in text:
        if char.isalpha():
            count -= 1
            if count <= 0:
                return True
    return count <= 0


@functools.cache
def model() -> Model | Walker:
    """The restricted model, scored with numpy (:mod:`worker.text.langmodel`), loaded once.

    Its tables are kept in the user's cache folder (:mod:`worker.text.langcache`): the
    first load takes about a second, later ones a few milliseconds. A process with no home
    folder to find (no ``HOME``, a user without a passwd entry) loads it each time.
    """
    import os

    from worker.core.configfiles import user_cache_dir
    from worker.text.langcache import cached
    from worker.text.langmodel import scorer

    try:
        folder = user_cache_dir(os.environ)
    except (RuntimeError, KeyError, OSError):  # Path.home() without a home
        return scorer(identifier())
    return cached(folder, LANGUAGES, lambda: scorer(identifier()))


@functools.cache
def identifier(languages: tuple[str, ...] | None = LANGUAGES) -> Any:
    """The py3langid identifier restricted to ``languages``, loaded once per process."""
    from py3langid.langid import (  # type: ignore[import-untyped]
        MODEL_FILE,
        LanguageIdentifier,
    )

    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if languages is not None:
        model.set_languages(list(languages))
    return model
