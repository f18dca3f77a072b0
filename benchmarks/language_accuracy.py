"""Accuracy and cost of worker.text.language on hand-written news paragraphs.

Run: ``python benchmarks/language_accuracy.py`` (add ``--compare`` to also measure the
full py3langid model and, when installed, lingua-language-detector). ``detect`` scores
py3langid's model with numpy (worker.text.langmodel); py3langid's own ``classify`` on the
same languages is measured beside it: the same answers, and the cost of each. The
accuracy line also gives the mean confidence of the right answers.

The samples (``benchmarks/data/language_samples.jsonl``) are original two-sentence news
paragraphs, 20 per language. Whole paragraphs are easy for every detector tried; each is
also cut to its first 40 and 25 characters (headline-sized snippets), where they differ.
Snippets with fewer than ``language.MIN_LETTERS`` letters count as wrong for us (we answer
None), so the snippet figures include that abstention.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.text import language  # noqa: E402

SAMPLES = Path(__file__).resolve().parent / "data" / "language_samples.jsonl"
SNIPPETS = (40, 25)
RUNS = 5

Detector = Callable[[str], str | None]


def load_samples(path: Path = SAMPLES) -> list[tuple[str, str]]:
    """``(lang, text)`` pairs from the JSON-lines sample file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(row["lang"], row["text"]) for row in rows]


def accuracy(detect: Detector, samples: list[tuple[str, str]]) -> tuple[float, dict[str, float]]:
    """Overall and per-language share of samples whose language is detected right."""
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for lang, text in samples:
        totals[lang] += 1
        hits[lang] += detect(text) == lang
    per_lang = {lang: hits[lang] / totals[lang] for lang in totals}
    return sum(hits.values()) / sum(totals.values()), per_lang


def mean_confidence(samples: list[tuple[str, str]]) -> float:
    """Mean confidence of :func:`language.detect` over the samples it gets right."""
    right = [c for lang, text in samples for code, c in [language.detect(text)] if code == lang]
    return sum(right) / max(len(right), 1)


def cost_us(detect: Detector, texts: list[str], runs: int = RUNS) -> float:
    """Median over ``runs`` passes of the mean time per text, in microseconds."""
    detect(texts[0])  # load the model outside the timing
    passes = []
    for _ in range(runs):
        start = time.perf_counter()
        for text in texts:
            detect(text)
        passes.append((time.perf_counter() - start) / len(texts) * 1e6)
    return statistics.median(passes)


def ours(text: str) -> str | None:
    return language.detect(text)[0]


def py3langid_walk(text: str) -> str | None:
    """py3langid's own classify (its byte-by-byte walk), restricted as ours is."""
    return str(language.identifier().classify(text)[0]) if language.has_letters(text, 20) else None


def full_model(text: str) -> str | None:
    return str(language.identifier(None).classify(text)[0])


def lingua_detector() -> Detector | None:
    """lingua-language-detector with all its languages, or None when not installed."""
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        return None
    detector = LanguageDetectorBuilder.from_all_languages().build()

    def detect(text: str) -> str | None:
        found = detector.detect_language_of(text)
        return None if found is None else str(found.iso_code_639_1.name).lower()

    return detect


def report(name: str, detect: Detector, samples: list[tuple[str, str]]) -> None:
    """Print accuracy (whole paragraphs and snippets) and cost of one detector."""
    sets = {"paragraphs": samples}
    sets.update({f"{n} chars": [(lang, text[:n]) for lang, text in samples] for n in SNIPPETS})
    results = {label: accuracy(detect, rows) for label, rows in sets.items()}
    texts = [text for _, text in samples]
    print(f"\n{name}")
    print("  accuracy: " + ", ".join(f"{k} {v[0]:.3f}" for k, v in results.items()))
    if detect is ours:
        confident = {label: mean_confidence(rows) for label, rows in sets.items()}
        print(
            "  mean confidence when right: "
            + ", ".join(f"{k} {v:.3f}" for k, v in confident.items())
        )
    print(f"  per language ({' / '.join(results)}):")
    for lang in sorted(results["paragraphs"][1]):
        print(f"    {lang}  " + " / ".join(f"{v[1][lang]:.2f}" for v in results.values()))
    print(f"  cost: {cost_us(detect, texts):.0f} µs per paragraph (median of {RUNS} runs)")


def confusions(samples: list[tuple[str, str]]) -> None:
    """Print the wrong answers of our detector, for reading."""
    wrong: dict[str, Counter[str | None]] = defaultdict(Counter)
    for lang, text in samples:
        for sample in (text, *(text[:n] for n in SNIPPETS)):
            found = ours(sample)
            if found != lang:
                wrong[lang][found] += 1
    print("\nconfusions of worker.text.language (paragraphs and snippets):")
    for lang, counts in sorted(wrong.items()):
        print(f"  {lang} -> {dict(counts)}")


def main() -> None:
    samples = load_samples()
    langs = sorted({lang for lang, _ in samples})
    print(f"{len(samples)} samples in {len(langs)} languages: {' '.join(langs)}")
    start = time.perf_counter()
    language.identifier()
    print(f"model load: {(time.perf_counter() - start) * 1e3:.0f} ms")
    report(f"worker.text.language (py3langid, {len(language.LANGUAGES)} languages)", ours, samples)
    report(
        "py3langid's own walk, the same languages (what detect did before)", py3langid_walk, samples
    )
    confusions(samples)
    if "--compare" in sys.argv:
        report("py3langid, full model", full_model, samples)
        lingua = lingua_detector()
        if lingua is not None:
            report("lingua-language-detector, all languages", lingua, samples)


if __name__ == "__main__":
    main()
