"""Precision, recall and cost of worker.text.neardup on synthetic news articles.

Run: ``python benchmarks/neardup_quality.py`` (``--articles N`` per topic, default 40).

Articles are generated from per-topic vocabularies and shared sentence templates, so two
unrelated articles on one topic share many words and some template phrases: the hard
negatives. Positive pairs are an article and an edited copy:

* ``headline``: the headline rewritten;
* ``drop_para``: one paragraph of six dropped;
* ``boilerplate``: a byline and a newsletter/cookie footer added;
* ``subst_5`` / ``subst_10`` / ``subst_20``: that share of words replaced by other words
  of the same topic.

Negative pairs (``same_topic``) are two different articles on the same topic, both with the
same source boilerplate. A pair is *flagged* when the two share at least one band (the LSH
look-up) and their estimated Jaccard similarity reaches the threshold (the check).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.text import neardup  # noqa: E402


def vocab(text: str, sep: str | None = None) -> list[str]:
    """A word list written as one string (easier to read and edit than a list literal)."""
    return text.split(sep)


TOPICS: dict[str, dict[str, list[str]]] = {
    "economy": {
        "noun": vocab(
            "inflation prices wages bank rates market shares exports budget deficit tax "
            "factory jobs investors retailers households energy bills loans mortgage growth "
            "recession profits tariffs currency bonds spending savings debt pension"
            ""
        ),
        "verb": vocab("rose fell slowed jumped stalled recovered climbed dropped eased surged"),
        "actor": vocab(
            "the central bank|the finance ministry|analysts|economists|the trade union|"
            "the chamber of commerce|the statistics office|business leaders|the treasury",
            "|",
        ),
    },
    "weather": {
        "noun": vocab(
            "rain storm flood wind snow heat drought river roads power lines trees "
            "coast harbour farms crops rescue crews shelters schools bridges warnings "
            "temperatures forecast damage villages valley dams roofs ice"
        ),
        "verb": vocab("hit battered flooded closed cut swept reached eased worsened returned"),
        "actor": vocab(
            "the weather service|emergency officials|the mayor|firefighters|"
            "the coast guard|meteorologists|residents|the regional governor",
            "|",
        ),
    },
    "football": {
        "noun": vocab(
            "goal striker coach match league season penalty defence stadium fans "
            "transfer contract captain referee injury midfield derby title keeper "
            "substitute tactics cup final tournament squad training academy"
        ),
        "verb": vocab("scored won lost drew signed missed saved equalised dominated struggled"),
        "actor": vocab(
            "the coach|the club|the captain|the league|supporters|the chairman|"
            "the federation|pundits|the goalkeeper",
            "|",
        ),
    },
}
GENERIC = {
    "place": vocab("Northbridge Eastvale Kingsford Millhaven Ashport Redcliff Stonebury Westmere"),
    "day": vocab("Monday Tuesday Wednesday Thursday Friday Saturday Sunday"),
    "adj": vocab("sharp sudden long steady modest record unexpected serious major slight"),
}
TEMPLATES = [
    "{actor} said on {day} that the {noun} {verb} after a {adj} week in {place}.",
    "In {place}, the {noun} {verb} by {num} percent, according to {actor}.",
    "{actor} warned that {noun} and {noun2} could cause a {adj} problem for {place}.",
    "The {adj} change in {noun} {verb} faster than {actor} had expected.",
    "Officials in {place} met {actor} on {day} to discuss the {noun}.",
    "{num} people were affected as the {noun} {verb} across {place}.",
    "Critics said the response to the {noun} was too slow and asked {actor} for answers.",
    "The {noun2} {verb} for the {num}th time this year, {actor} confirmed.",
    "It was not clear whether the {noun} would affect the {noun2} in {place}.",
    "{actor} expects a {adj} shift in {noun} before the end of the month.",
    "Local reports described the {noun} as the most {adj} since records began.",
    "Asked about the {noun2}, {actor} declined to comment further on {day}.",
]
HEADLINES = [
    "{noun} {verb} in {place} as {actor} responds",
    "{adj} {noun}: what {actor} said on {day}",
    "{place} braces for more {noun} after {adj} week",
]
BYLINE = "By Alex Morgan, staff reporter. Updated {day} at 10:42."
FOOTER = (
    "Sign up for our morning newsletter to get the day's top stories in your inbox. "
    "We use cookies to improve your experience; read our privacy policy. "
    "Share this article on social media. Copyright The Daily Courier, all rights reserved."
)
PARAGRAPHS = 6
SENTENCES = (3, 5)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
RUNS = 5


@dataclass(frozen=True)
class Article:
    """A generated article: topic, headline and paragraphs."""

    topic: str
    headline: str
    paragraphs: list[str]

    def text(self, boilerplate: bool = False, day: str = "Monday") -> str:
        """The article as plain text, optionally with byline and footer."""
        parts = [self.headline, *self.paragraphs]
        if boilerplate:
            parts = [BYLINE.format(day=day), *parts, FOOTER]
        return "\n\n".join(parts)


def fill(template: str, topic: str, rng: random.Random) -> str:
    """A template with its slots drawn from the topic's and the generic vocabularies."""
    words = TOPICS[topic]
    slots = {
        "noun": rng.choice(words["noun"]),
        "noun2": rng.choice(words["noun"]),
        "verb": rng.choice(words["verb"]),
        "actor": rng.choice(words["actor"]),
        "num": str(rng.randint(2, 95)),
        **{key: rng.choice(values) for key, values in GENERIC.items()},
    }
    sentence = template.format(**slots)
    return sentence[0].upper() + sentence[1:]


def article(topic: str, rng: random.Random) -> Article:
    """One random article on the topic."""
    paragraphs = [
        " ".join(fill(rng.choice(TEMPLATES), topic, rng) for _ in range(rng.randint(*SENTENCES)))
        for _ in range(PARAGRAPHS)
    ]
    return Article(topic, fill(rng.choice(HEADLINES), topic, rng), paragraphs)


def substitute(text: str, share: float, topic: str, rng: random.Random) -> str:
    """Replace ``share`` of the words by random words of the same topic."""
    words = text.split(" ")
    vocabulary = TOPICS[topic]["noun"] + TOPICS[topic]["verb"]
    for index in rng.sample(range(len(words)), round(share * len(words))):
        words[index] = rng.choice(vocabulary)
    return " ".join(words)


def edits(rng: random.Random) -> dict[str, Callable[[Article], str]]:
    """The positive edits, each turning an article into a near-duplicate text."""

    def drop(a: Article) -> str:
        kept = a.paragraphs.copy()
        del kept[rng.randrange(len(kept))]
        return Article(a.topic, a.headline, kept).text()

    def headline(a: Article) -> str:
        return Article(a.topic, fill(rng.choice(HEADLINES), a.topic, rng), a.paragraphs).text()

    return {
        "headline": headline,
        "drop_para": drop,
        "boilerplate": lambda a: a.text(boilerplate=True, day=rng.choice(GENERIC["day"])),
        "subst_5": lambda a: substitute(a.text(), 0.05, a.topic, rng),
        "subst_10": lambda a: substitute(a.text(), 0.10, a.topic, rng),
        "subst_20": lambda a: substitute(a.text(), 0.20, a.topic, rng),
    }


def pairs(per_topic: int, seed: int = 14) -> list[tuple[str, str, str]]:
    """``(kind, text_a, text_b)``: every edit of every article, and same-topic negatives."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for topic in TOPICS:
        articles = [article(topic, rng) for _ in range(per_topic)]
        for a in articles:
            out += [(kind, a.text(), edit(a)) for kind, edit in edits(rng).items()]
        for a, b in zip(articles, articles[1:] + articles[:1], strict=True):
            out.append(("same_topic", a.text(boilerplate=True), b.text(boilerplate=True)))
    return out


def true_jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of the two texts' shingle-hash sets."""
    left = set(neardup.shingle_hashes(neardup.word_hashes(a), neardup.DEFAULT.shingle).tolist())
    right = set(neardup.shingle_hashes(neardup.word_hashes(b), neardup.DEFAULT.shingle).tolist())
    return len(left & right) / len(left | right)


def measure(rows: list[tuple[str, str, str]]) -> list[tuple[str, float, float, bool]]:
    """``(kind, true Jaccard, estimated, shares a band)`` for each pair."""
    out = []
    for kind, a, b in rows:
        sig_a, sig_b = neardup.signature(a), neardup.signature(b)
        banded = bool(set(neardup.bands(sig_a)) & set(neardup.bands(sig_b)))
        out.append((kind, true_jaccard(a, b), neardup.similarity(sig_a, sig_b), banded))
    return out


def print_by_kind(results: list[tuple[str, float, float, bool]]) -> None:
    """Per pair kind: mean true and estimated Jaccard, share banded, share flagged."""
    print(
        f"\n{'kind':<12} {'pairs':>5} {'true J':>7} {'est J (min-max)':>17} {'banded':>7} ", end=""
    )
    print(f"{'flagged':>8}")
    for kind in dict.fromkeys(r[0] for r in results):
        rows = [r for r in results if r[0] == kind]
        flagged = sum(r[3] and r[2] >= neardup.DEFAULT.threshold for r in rows) / len(rows)
        print(
            f"{kind:<12} {len(rows):>5} {statistics.mean(r[1] for r in rows):>7.3f} "
            f"{statistics.mean(r[2] for r in rows):>7.3f} "
            f"({min(r[2] for r in rows):.2f}-{max(r[2] for r in rows):.2f}) "
            f"{sum(r[3] for r in rows) / len(rows):>7.2f} {flagged:>8.2f}"
        )


def print_thresholds(results: list[tuple[str, float, float, bool]], excluded: set[str]) -> None:
    """Precision and recall of 'shares a band and estimate >= t' over thresholds."""
    rows = [r for r in results if r[0] not in excluded]
    print(f"\npositives: every kind except {sorted(excluded)}; negatives: same_topic")
    print(f"{'threshold':>9} {'precision':>9} {'recall':>7}")
    for t in THRESHOLDS:
        flagged = [r for r in rows if r[3] and r[2] >= t]
        true_pos = sum(r[0] != "same_topic" for r in flagged)
        positives = sum(r[0] != "same_topic" for r in rows)
        precision = true_pos / len(flagged) if flagged else 1.0
        print(f"{t:>9.1f} {precision:>9.3f} {true_pos / positives:>7.3f}")


def cost(texts: list[str]) -> None:
    """Median over runs of the mean µs per text of signature + bands, and of pack."""
    passes = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for text in texts:
            neardup.bands(neardup.signature(text))
        passes.append((time.perf_counter() - start) / len(texts) * 1e6)
    sigs = [neardup.signature(t) for t in texts]
    start = time.perf_counter()
    for a, b in itertools.pairwise(sigs):
        neardup.similarity(neardup.pack(a), b)
    compare = (time.perf_counter() - start) / (len(sigs) - 1) * 1e6
    words = statistics.mean(len(neardup.words(t)) for t in texts)
    print(f"\ncost: signature + bands {statistics.median(passes):.0f} µs per article")
    print(f"      ({words:.0f} words on average, median of {RUNS} runs)")
    print(f"      similarity(packed, unpacked) {compare:.1f} µs per pair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=40, help="articles per topic")
    args = parser.parse_args()
    config = neardup.DEFAULT
    midpoint = (1 / config.bands) ** (1 / config.rows)  # the banding S-curve's steepest point
    print(
        f"config: slots={config.slots} shingle={config.shingle} threshold={config.threshold} "
        f"bands={config.bands}x{config.rows} (LSH midpoint {midpoint:.2f})"
    )
    rows = pairs(args.articles)
    results = measure(rows)
    print_by_kind(results)
    print_thresholds(results, excluded=set())
    print_thresholds(results, excluded={"subst_20"})
    cost([a for _, a, _ in rows])


if __name__ == "__main__":
    main()
