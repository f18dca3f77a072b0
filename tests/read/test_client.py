"""The read client against a real Redis: exact filters, paging, the published schema."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import jsonschema
import pytest

from tests.storage.test_store import message
from tests.support.helpers import ROOT, SEEDS, ingest, reads, seed_bytes
from worker.core.models import Accepted, Record
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.read.client import IngestClient, to_bound
from worker.storage import recordform
from worker.storage.scores import NO_DATE_SCORE, ScoreRange
from worker.storage.store import Store

FIXTURES = ROOT / "tests" / "fixtures" / "seeds"
SCHEMA = json.loads((ROOT / "docs" / "record.schema.json").read_text())

# (title, day, source): several on one day, so the pages cut through runs of equal scores
STORIES = [
    (f"Story {n}", f"2024-03-{day:02d}", source)
    for n, (day, source) in enumerate(
        [
            *[(1, "a.txt"), (2, "b.txt"), (3, "a.txt"), (3, "b.txt"), (3, "a.txt"), (3, "a.txt")],
            *[(4, "b.txt"), (5, "a.txt"), (5, "a.txt"), (6, "b.txt"), (9, "a.txt"), (10, "b.txt")],
        ]
    )
]


@pytest.fixture
def stories(store: Store, settings: Settings) -> dict[str, tuple[str, str]]:
    """Record id -> (day, source) for STORIES, plus one undated record."""
    batch = [
        message(seed_bytes(title, f"Body of {title}.", day=day), source=source)
        for title, day, source in STORIES
    ]
    outcomes = pipeline.process_batch(batch, store, settings)
    pairs = zip(outcomes, STORIES, strict=True)
    found = {o.id or "": (day, source) for o, (_, day, source) in pairs}
    undated = stored_record(store, "feed-undated", published=None, source="a.txt")
    found[undated.id] = ("", "a.txt")
    return found


def stored_record(store: Store, record_id: str, **changes: object) -> Record:
    """Commit a record through the store's script (as a feed entry would be); returns it."""
    fields = {
        "id": record_id,
        "kind": "feed",
        "source": "feed.xml",
        "title": "Undated entry",
        "published": None,
        "paragraphs": ["One paragraph."],
        "text": "One paragraph.",
        "word_count": 2,
        "content_hash": "a" * 64,
        "ingested_at": datetime.now(UTC),
        "version": 1,
        "url": "https://example.com/x",
        "tags": ["t"],
    }
    fields.update(changes)
    store.commit([Accepted(f"input-{record_id}-{fields['content_hash']}", Record(**fields))])
    record = reads(store).get(record_id)
    assert record is not None
    return record


def expect(stories: dict[str, tuple[str, str]], keep: object) -> set[str]:
    return {i for i, (day, source) in stories.items() if keep(day, source)}  # type: ignore[operator]


def test_filters_return_exactly_the_right_sets(
    store: Store, stories: dict[str, tuple[str, str]]
) -> None:
    client = reads(store)

    def ids(**filters: object) -> set[str]:
        return {r.id for r in client.records(**filters)}  # type: ignore[arg-type]

    assert ids() == set(stories)
    assert ids(source="a.txt") == expect(stories, lambda d, s: s == "a.txt")
    assert ids(since="2024-03-03", until="2024-03-05") == expect(
        stories, lambda d, s: "2024-03-03" <= d <= "2024-03-05" and d
    )
    assert ids(until=date(2024, 3, 3)) == expect(stories, lambda d, s: d and d <= "2024-03-03")
    assert ids(since=datetime(2024, 3, 5, 12)) == expect(stories, lambda d, s: d >= "2024-03-06")
    assert ids(since="2024-03-09", source="b.txt") == expect(
        stories, lambda d, s: d >= "2024-03-09" and s == "b.txt"
    )
    assert ids(source="nope.txt") == set()


def test_newest_first_with_undated_last_and_limit(
    store: Store, stories: dict[str, tuple[str, str]]
) -> None:
    everything = list(reads(store).records())
    days = [stories[r.id][0] for r in everything]
    assert days == [*sorted(days[:-1], reverse=True), ""]
    assert everything[-1].published is None
    assert [r.id for r in reads(store).records(limit=4)] == [r.id for r in everything[:4]]
    assert list(reads(store).records(limit=0)) == []


@pytest.mark.parametrize("page", [1, 2, 3, 5])
def test_small_pages_through_ties_give_the_same_sequence(
    store: Store, stories: dict[str, tuple[str, str]], page: int
) -> None:
    whole = [r.id for r in reads(store).records()]
    assert [r.id for r in reads(store).records(page=page)] == whole
    assert len(set(whole)) == len(stories)
    by_source = [r.id for r in reads(store).records(source="a.txt", page=page)]
    assert by_source == [i for i in whole if stories[i][1] == "a.txt"]


def test_records_added_during_iteration_do_not_shift_pages(
    store: Store, settings: Settings, stories: dict[str, tuple[str, str]]
) -> None:
    pages = reads(store).records(page=2)
    first = [next(pages).id for _ in range(3)]
    newer = [message(seed_bytes(f"Newer {i}", "Late news.", day="2025-01-01")) for i in range(5)]
    pipeline.process_batch(newer, store, settings)
    rest = [r.id for r in pages]
    assert sorted(first + rest) == sorted(stories)  # nothing twice, nothing lost


def test_cli_list_matches_the_client(
    store: Store, redis_url: str, stories: dict[str, tuple[str, str]]
) -> None:
    result = ingest(
        "records", "list", "--json", "--since", "2024-03-03", "--source", "a.txt", url=redis_url
    )
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    for record in printed:
        jsonschema.validate(record, SCHEMA)
    got = [record["id"] for record in printed]
    assert got == [r.id for r in reads(store).records(since="2024-03-03", source="a.txt")]
    assert len(got) == len(expect(stories, lambda d, s: d >= "2024-03-03" and s == "a.txt"))


def test_every_stored_record_validates_against_the_published_schema(
    store: Store, settings: Settings
) -> None:
    files = sorted(FIXTURES.glob("*.txt")) + sorted(SEEDS.glob("*.txt"))
    batch = [message(f.read_bytes(), source=f.name) for f in files]
    outcomes = pipeline.process_batch(batch, store, settings)
    stored_record(store, "feed-1", published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    stored_record(store, "feed-1", content_hash="b" * 64, title="Changed")  # version 2
    ids = {o.id for o in outcomes if o.id} | {"feed-1"}
    assert len(ids) == 6  # the fixtures are five stories in many drifts, and feed-1
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for record_id in ids:
        raw = recordform.decode(store.client.get(store.keys.record(record_id)))
        validator.validate(raw)  # what every reader gets from the stored form
    assert reads(store).get("feed-1").version == 2  # type: ignore[union-attr]
    broken = {**raw, "surprise": 1}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_rejection_filters(store: Store, settings: Settings) -> None:
    batch = [
        message(b"date 2021-02-30 Impossible\n\nBody", source="bad-date.txt"),
        message(b"no header\n\nbody", source="x.txt"),
        message(b"", source="x.txt"),
        message(seed_bytes("Fine", "Good."), source="ok.txt"),
    ]
    pipeline.process_batch(batch, store, settings)
    client = reads(store)

    def reasons(**filters: object) -> list[str]:
        return sorted(r.reason for r in client.rejections(**filters))  # type: ignore[arg-type]

    assert reasons() == ["seed.bad_date", "seed.empty", "seed.no_header"]
    assert reasons(reason="seed.empty") == ["seed.empty"]
    assert reasons(reason="seed") == ["seed.bad_date", "seed.empty", "seed.no_header"]
    assert reasons(reason="feed") == []
    assert reasons(source="x.txt") == ["seed.empty", "seed.no_header"]
    assert reasons(source="x.txt", limit=1) in (["seed.empty"], ["seed.no_header"])
    assert reasons(since=datetime.now(UTC).date()) == reasons()
    assert reasons(until="2000-01-01") == []
    result = ingest(
        "rejections", "list", "--json", "--reason", "seed.empty", url=store.settings.redis_url
    )
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert (line["source"], line["reason"], line["replayed_as"]) == ("x.txt", "seed.empty", None)


def test_bounds_accept_dates_datetimes_and_strings() -> None:
    assert to_bound("2024-03-05", end_of_day=True) == datetime(
        2024, 3, 5, 23, 59, 59, 999999, tzinfo=UTC
    )
    assert to_bound(date(2024, 3, 5), end_of_day=False) == datetime(2024, 3, 5, tzinfo=UTC)
    assert to_bound("2024-03-05T10:00:00Z", end_of_day=True) == datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert to_bound(datetime(2024, 3, 5, 10), end_of_day=False) == datetime(
        2024, 3, 5, 10, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="Invalid isoformat"):
        to_bound("yesterday", end_of_day=False)


def test_score_ranges_become_redis_syntax_only_when_sent() -> None:
    start = datetime(2024, 3, 5, tzinfo=UTC).timestamp()
    end = to_bound("2024-03-05", end_of_day=True).timestamp()  # type: ignore[union-attr]
    assert ScoreRange.between(None, None).redis_args() == ("+inf", "-inf")
    assert ScoreRange.between("2024-03-05", "2024-03-05").redis_args() == (end, start)
    until = ScoreRange.published(None, "2024-03-05")  # undated records left out
    assert until == ScoreRange(NO_DATE_SCORE, end, low_open=True)
    assert until.redis_args() == (end, "(-1000000000000000.0")
    assert not until.contains(NO_DATE_SCORE)
    assert until.contains(start)
    assert ScoreRange.published(None, None).contains(NO_DATE_SCORE)
    assert until.up_to(start) == ScoreRange(NO_DATE_SCORE, start, low_open=True)
    half_open = ScoreRange(1.0, 2.0, high_open=True)
    assert half_open.redis_args() == ("(2.0", 1.0)
    assert half_open.contains(1.0)
    assert not half_open.contains(2.0)


def test_client_from_url_reads_what_the_store_wrote(
    store: Store, redis_url: str, stories: dict[str, tuple[str, str]]
) -> None:
    client = IngestClient(redis_url, namespace="test")
    some = next(iter(stories))
    assert client.get(some) == reads(store).get(some)
    assert client.get("missing") is None
    assert IngestClient(redis_url).get(some) is None  # another namespace
