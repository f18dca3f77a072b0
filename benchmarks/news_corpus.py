"""Real-length news in thirteen languages, the same for a given seed and size.

Made from the hand-written paragraphs of ``data/language_samples.jsonl`` (20 per language):
each document picks a language and draws its headline and eight to twelve paragraphs of
sentences from that language's words (Chinese and Japanese: runs of two characters), so
that every document is distinct (no near-duplicates by accident) and each is about 3 KB of
UTF-8 (Chinese and Japanese: about 3,000 bytes in about 1,000 characters), written as
seed files like ``corpus.py``'s.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "data" / "language_samples.jsonl"
NO_SPACES = ("ja", "zh")


def vocabularies(path: Path = SAMPLES) -> dict[str, list[str]]:
    """Each language's words (Chinese and Japanese: two-character runs), in sample order."""
    words: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = str(row["text"])
        if row["lang"] in NO_SPACES:
            plain = "".join(c for c in text if c.isalnum())
            found = [plain[i : i + 2] for i in range(0, len(plain), 2)]
        else:
            found = [w.strip(".,;:!?\"'()«»“”„") for w in text.split()]
        words.setdefault(row["lang"], []).extend(w for w in found if w)
    return words


def sentence(rng: random.Random, words: list[str], lang: str) -> str:
    picked = [rng.choice(words) for _ in range(rng.randint(8, 22))]
    if lang in NO_SPACES:
        return "".join(picked) + "。"
    return picked[0][:1].upper() + picked[0][1:] + " " + " ".join(picked[1:]) + "."


def document(rng: random.Random, lang: str, words: list[str]) -> bytes:
    day = f"{rng.randint(2000, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    title = sentence(rng, words, lang).rstrip(".。")
    sentences = (2, 3) if lang in NO_SPACES else (2, 4)
    paragraphs = [
        " ".join(sentence(rng, words, lang) for _ in range(rng.randint(*sentences)))
        for _ in range(rng.randint(8, 12))
    ]
    return f"date {day} {title}\n\n" + "\n\n".join(paragraphs) + "\n"


def documents(count: int, seed: int = 20261207) -> list[tuple[str, bytes]]:
    """``count`` ``(language, document)`` pairs, the languages in turn."""
    rng = random.Random(seed)
    vocab = vocabularies()
    langs = sorted(vocab)
    out = []
    for i in range(count):
        lang = langs[i % len(langs)]
        out.append((lang, document(rng, lang, vocab[lang]).encode()))
    return out


def write_corpus(folder: Path, count: int, seed: int = 20261207) -> int:
    """Write ``count`` documents as ``news-NNNNNN.txt`` into ``folder``; returns total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, (_, data) in enumerate(documents(count, seed)):
        (folder / f"news-{i:06d}.txt").write_bytes(data)
        total += len(data)
    return total
