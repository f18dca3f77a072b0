"""A synthetic seed corpus with realistic drift, the same for a given seed and size.

Documents are about 3 KB: a ``date YYYY-MM-DD headline`` line and ten to fourteen
paragraphs of words drawn from a fixed vocabulary (with accents and typographic quotes).
Drift, as real files have it: about 1 in 8 uses CRLF, 1 in 10 starts with a BOM, 1 in 10
holds NBSPs, 1 in 6 is hard-wrapped at 72 columns, 1 in 12 has trailing spaces and extra
blank lines. About 1 in 50 repeats an earlier document (in another drift: a duplicate)
and about 1 in 200 is bad (no header, an impossible date, binary or empty).
"""

from __future__ import annotations

import codecs
import random
import textwrap
from pathlib import Path

WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the a of to and in that is was he for it with as his on be at by had are but from "
    "or have an they which one you were all her she there would their we him been has "
    "when who will more no if out so said what up its about into than them can only "
    "other new some could time these two may then do first any my now such like our over "
    "man me even most made after also did many before must through back years where much "
    "your way well down should because each just those people how too little state good "
    "very make world still own see men work long get here between both life being under "
    "never day same another know while last might us great old year off come since "
    "against go came right used take three government minister parliament election "
    "economy market inflation treaty ambassador negotiations ceasefire council "
    "café naïve résumé Zürich São Paulo Kraków Malmö Ångström façade coöperate "
    "“quoted” ‘single’ — – … €100 £20 ¥300 50% 2021 1,200 3.5 U.S. e-mail"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 4)))


def clean_document(rng: random.Random) -> str:
    day = f"{rng.randint(1990, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize()
    body = "\n\n".join(paragraph(rng) for _ in range(rng.randint(10, 14)))
    return f"date {day} {title}\n\n{body}\n"


def drift(text: str, rng: random.Random) -> bytes:
    """The same document as a messier file: the record it gives does not change."""
    if rng.random() < 1 / 6:
        text = "\n\n".join(textwrap.fill(p, 72) for p in text.split("\n\n"))
    if rng.random() < 1 / 10:
        text = text.replace(" ", "\u00a0", rng.randint(1, 20))
    if rng.random() < 1 / 12:
        text = text.replace("\n\n", "  \n \n\n", 3)
    if rng.random() < 1 / 8:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    return codecs.BOM_UTF8 + data if rng.random() < 1 / 10 else data


BAD = (
    b"no header here\n\njust text\n",
    b"date 2021-02-30 An impossible day\n\nBody.\n",
    b"\x00\x01binary\x00\x02",
    b"",
)


def documents(count: int, seed: int = 20241128) -> list[bytes]:
    """``count`` documents: mostly distinct, a few duplicates and a few bad ones."""
    rng = random.Random(seed)
    docs: list[bytes] = []
    texts: list[str] = []
    for i in range(count):
        roll = rng.random()
        if roll < 1 / 200:
            docs.append(BAD[i % len(BAD)])
        elif roll < 1 / 200 + 1 / 50 and texts:
            docs.append(drift(rng.choice(texts), rng))
        else:
            texts.append(clean_document(rng))
            docs.append(drift(texts[-1], rng))
    return docs


def write_corpus(folder: Path, count: int, seed: int = 20241128) -> int:
    """Write ``count`` documents as ``doc-NNNNNN.txt`` into ``folder``; returns total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i, data in enumerate(documents(count, seed)):
        (folder / f"doc-{i:06d}.txt").write_bytes(data)
        total += len(data)
    return total
