"""Fields for search and NLP through the real pipeline and store (real Redis).

Language and paragraph hashes on every record; near-duplicate clusters assigned in the
upsert script (earliest first, kept on update, listed by cluster, removed by retention);
paragraph change sets in ``updated`` events, also under concurrent updates.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.support.helpers import add_enqueued, ingest, reads, rss_bytes, seed_bytes
from tests.text import banding
from worker.core.models import Accepted, Envelope, InputKind, Record
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.pipeline.enrich import enrich
from worker.storage import recordform
from worker.storage.retention import prune
from worker.storage.store import Store
from worker.text import bandspec
from worker.text.changes import diff, paragraph_hashes
from worker.text.normalise import content_hash

WORDS = [
    "council",
    "harbour",
    "bridge",
    "river",
    "station",
    "market",
    "school",
    "budget",
    "minister",
    "police",
    "storm",
    "hospital",
    "train",
    "airport",
    "museum",
    "factory",
    "union",
    "court",
    "village",
    "farmers",
    "election",
    "tax",
    "energy",
    "price",
    "water",
    "road",
    "teachers",
    "league",
    "coach",
    "festival",
    "library",
    "mayor",
    "ferry",
    "port",
]
VERBS = [
    "approved",
    "rejected",
    "opened",
    "closed",
    "delayed",
    "announced",
    "criticised",
    "reviewed",
]


def paragraphs(seed: int, count: int = 8) -> list[str]:
    """``count`` distinct paragraphs of made-up news prose, the same for the same seed."""
    rng = random.Random(seed)
    return [
        " ".join(
            f"The {rng.choice(WORDS)} {rng.choice(VERBS)} the {rng.choice(WORDS)} "
            f"plan for the {rng.choice(WORDS)} on day {rng.randint(1, 999)}."
            for _ in range(3)
        )
        for _ in range(count)
    ]


def seed_message(title: str, paras: list[str], day: str = "2024-03-05") -> dict[str, str]:
    data = seed_bytes(title, *paras, day=day)
    env = Envelope(input_id=uuid.uuid4().hex, kind=InputKind.SEED, source=f"{title}.txt", data=data)
    return env.model_dump(mode="json", exclude_none=True)


def run(store: Store, settings: Settings, *messages: dict[str, str]) -> list[Record]:
    add_enqueued(store, len(messages))
    outcomes = pipeline.process_batch(list(messages), store, settings)
    records = [reads(store).get(o.id or "") for o in outcomes]
    assert all(r is not None for r in records), outcomes
    return [r for r in records if r is not None]


def events(store: Store) -> list[dict[str, str]]:
    raw = store.client.xrange(store.keys.record_events)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


def test_language_and_paragraph_hashes(store: Store, settings: Settings) -> None:
    english = ["The city council approved the budget for the new harbour bridge on Monday."]
    german = ["Der Stadtrat hat am Montag den Haushalt für die neue Hafenbrücke genehmigt."]
    en, de, short = run(
        store,
        settings,
        seed_message("Budget approved", english),
        seed_message("Haushalt genehmigt", german),
        seed_message("Hi", ["Ok 12 34."]),
    )
    assert (en.language, de.language, short.language) == ("en", "de", None)
    assert en.language_confidence is not None
    assert en.language_confidence > 0.9
    assert short.language_confidence == 0.0
    assert en.paragraph_hashes == paragraph_hashes(en.paragraphs)
    assert en.content_source is None  # a seed
    meta = store.client.get(store.keys.record(short.id)).partition(b"\n")[0]
    assert orjson.loads(meta)["language"] is None  # stored as null, not left out


def bucket_values(store: Store) -> list[bytes]:
    """Every value of every LSH bucket shard: the seqs filed, one entry per band."""
    shards = store.client.scan_iter(store.keys.neardup_shard_prefix + "*")
    return [v for key in shards for v in store.client.hvals(key)]


def test_near_duplicates_join_the_earliest_cluster(store: Store, settings: Settings) -> None:
    story = paragraphs(1)
    original, copy, other = run(
        store,
        settings,
        seed_message("Bridge reopens", story),
        seed_message("Bridge reopens after repairs", story[:3] + story[4:]),  # a dropped paragraph
        seed_message("Unrelated", paragraphs(2)),
    )
    assert original.cluster == original.id
    assert copy.cluster == original.id
    assert other.cluster == other.id
    clustered = {e["id"]: e["clustered"] for e in events(store)}
    assert clustered == {original.id: "", copy.id: original.id, other.id: ""}
    assert {r.id for r in reads(store).records(cluster=original.id)} == {original.id, copy.id}
    assert [r.id for r in reads(store).records(cluster=other.id)] == [other.id]
    # A record alone in its cluster costs no set; the listing finds it all the same.
    assert not store.client.exists(store.keys.cluster(other.id))
    assert store.client.zcard(store.keys.cluster(original.id)) == 2
    assert list(reads(store).records(cluster=other.id, source="Original.txt")) == []
    assert list(reads(store).records(cluster=other.id, since="2999-01-01")) == []
    assert list(reads(store).records(cluster=copy.id)) == []  # a member is not a cluster
    assert list(reads(store).records(cluster=original.id, source="Unrelated.txt")) == []
    # A later copy of the copy joins the same (earliest) cluster.
    [third] = run(store, settings, seed_message("Third copy", story[:3] + story[4:7]))
    assert third.cluster == original.id


def test_a_chain_of_small_steps_cannot_join_two_unrelated_stories(
    store: Store, settings: Settings
) -> None:
    """11 seeds morph story A into story B a paragraph at a time: each is near the last."""
    a, b = paragraphs(30, 10), paragraphs(31, 10)
    chain = run(store, settings, *(seed_message(f"Step {k}", b[:k] + a[k:]) for k in range(11)))
    first, last = chain[0], chain[-1]
    assert chain[1].cluster == first.id  # one paragraph changed: a near-duplicate of A
    assert last.cluster != first.id  # B shares nothing with A
    # Every member is near its cluster's representative (its first record), not just
    # near some member.
    need = bandspec.min_equal_slots(settings.neardup_threshold, bandspec.SLOTS)
    for record in chain:
        mine, rep = signature_of(store, record.id), signature_of(store, record.cluster or "")
        equal = sum(mine[i : i + 2] == rep[i : i + 2] for i in range(0, len(mine), 2))
        assert equal >= need, (record.title, record.cluster)


def signature_of(store: Store, record_id: str) -> bytes:
    seq = store.client.hget(store.keys.neardup_ids, record_id)
    assert seq is not None
    entry = store.client.get(store.keys.neardup(seq.decode()))
    assert entry is not None
    return bytes(entry[: bandspec.SLOTS * bandspec.SLOT_BYTES])


def test_cluster_listing_from_the_command_line(
    store: Store, settings: Settings, redis_url: str
) -> None:
    story = paragraphs(3)
    first, second = run(
        store, settings, seed_message("One", story), seed_message("Two", [*story, "By a reporter."])
    )
    result = ingest("records", "list", "--cluster", first.id, "--json", url=redis_url)
    assert result.returncode == 0, result.stderr
    listed = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert {r["id"] for r in listed} == {first.id, second.id}
    assert {r["cluster"] for r in listed} == {first.id}


def test_clustering_off_makes_every_record_its_own_cluster(
    store: Store, settings: Settings
) -> None:
    off = settings.model_copy(update={"neardup": False})
    story = paragraphs(4)
    a, b = run(store, off, seed_message("A", story), seed_message("B", story[1:]))
    assert (a.cluster, b.cluster) == (a.id, b.id)
    assert bucket_values(store) == []
    assert store.client.hlen(store.keys.neardup_ids) == 0
    assert not store.client.exists(store.keys.neardup(1))


def test_threshold_setting_decides(store: Store, settings: Settings) -> None:
    story = paragraphs(5)
    strict = settings.model_copy(update={"neardup_threshold": 0.95})
    strict_store = Store(store.client, strict)  # the script's threshold is the store's
    a, b = run(strict_store, strict, seed_message("A", story), seed_message("B", story[:6]))
    assert b.cluster == b.id  # about 0.75 similar: a near-duplicate at 0.5, not at 0.95
    [c] = run(store, settings, seed_message("C", story[:7]))
    assert c.cluster == a.id


def feed_message(feed: bytes, input_id: str) -> dict[str, str]:
    env = Envelope(input_id=input_id, kind=InputKind.FEED, source="local.xml", data=feed)
    return env.model_dump(mode="json", exclude_none=True)


def html(paras: list[str]) -> str:
    return "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in paras)


def test_update_keeps_cluster_and_says_which_paragraphs_changed(
    store: Store, settings: Settings
) -> None:
    story = paragraphs(6, 5)
    [first] = run(store, settings, seed_message("Original", story))
    feed = rss_bytes(("g1", "Copy", html(story[:4])))
    [copy] = run(store, settings, feed_message(feed, "f1"))
    assert copy.cluster == first.id
    assert copy.content_source == "feed"
    edited = [story[0], "A new second paragraph about the ferry.", story[2], story[3], "Added."]
    [updated] = run(store, settings, feed_message(rss_bytes(("g1", "Copy", html(edited))), "f2"))
    assert (updated.id, updated.version, updated.cluster) == (copy.id, 2, first.id)
    last = events(store)[-1]
    assert last["event"] == "updated"
    assert last["clustered"] == first.id
    assert (last["paragraphs_added"], last["paragraphs_removed"]) == ("4", "")
    assert last["paragraphs_changed"] == "1"
    assert updated.paragraph_hashes == paragraph_hashes(edited)


def test_change_set_of_a_record_without_hashes(store: Store, settings: Settings) -> None:
    """A record stored without paragraph hashes or cluster: both are worked out."""
    old_paras, new_paras = ["One old paragraph.", "Two."], ["One old paragraph.", "Three."]
    record = Record(
        id="seed-old",
        kind="seed",
        source="old.txt",
        title="Old",
        published=datetime(2024, 1, 1, tzinfo=UTC),
        paragraphs=old_paras,
        text="\n\n".join(old_paras),
        word_count=5,
        content_hash=content_hash("Old", "\n\n".join(old_paras)),
        ingested_at=datetime.now(UTC),
        version=1,
    )
    # Stored as the store stores it, but with neither paragraph_hashes nor cluster.
    meta = record.model_dump(mode="json", exclude={"paragraphs", "text"}, exclude_none=True)
    stored = recordform.stored(orjson.dumps(meta), recordform.pack(old_paras))
    store.client.set(store.keys.record(record.id), stored)
    text = "\n\n".join(new_paras)
    new = record.model_copy(
        update={"paragraphs": new_paras, "text": text, "content_hash": content_hash("Old", text)}
    )
    [outcome] = store.commit([enrich(Accepted("old-2", new), settings)])  # type: ignore[list-item]
    assert outcome.outcome == "updated"
    assert events(store)[-1]["paragraphs_changed"] == "1"
    assert reads(store).get(record.id).cluster == record.id  # type: ignore[union-attr]


def test_concurrent_updates_get_exact_change_sets(store: Store, settings: Settings) -> None:
    """Four writers update one record at once; each event's change set is from the version
    stored just before it, whatever the interleaving."""
    base = Record(
        id="seed-shared",
        kind="seed",
        source="shared.txt",
        title="Shared",
        published=None,
        paragraphs=["start"],
        text="start",
        word_count=1,
        content_hash=content_hash("Shared", "start"),
        ingested_at=datetime.now(UTC),
        version=1,
    )
    hashes: dict[str, list[str]] = {base.content_hash: paragraph_hashes(base.paragraphs)}
    lock = threading.Lock()

    def writer(n: int) -> None:
        own = Store.from_url(settings.redis_url or "", settings)
        rng = random.Random(n)
        for round_ in range(25):
            paras = [f"p{rng.randint(0, 6)}" for _ in range(rng.randint(1, 6))] + [f"w{n}{round_}"]
            text = "\n\n".join(paras)
            record = base.model_copy(
                update={"paragraphs": paras, "text": text, "content_hash": content_hash("S", text)}
            )
            with lock:
                hashes[record.content_hash] = paragraph_hashes(paras)
            own.commit([enrich(Accepted(f"w{n}-{round_}", record), settings)])  # type: ignore[list-item]
        own.close()

    store.commit([Accepted("start", base)])
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = events(store)
    assert [e["event"] for e in history] == ["created"] + ["updated"] * 100
    for before, after in itertools.pairwise(history):
        expected = diff(hashes[before["content_hash"]], hashes[after["content_hash"]])
        got = [after[f"paragraphs_{k}"] for k in ("added", "removed", "changed")]
        assert got == [",".join(map(str, x)) for x in (expected.added, expected.removed,
                                                       expected.changed)]  # fmt: skip


def test_retention_removes_neardup_entries_and_cluster_members(
    store: Store, settings: Settings
) -> None:
    story = paragraphs(7)
    old_day = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    new_day = datetime.now(UTC).date().isoformat()
    old, copy, fresh = run(
        store,
        settings,
        seed_message("Old", story, day=old_day),
        seed_message("Old copy", story[1:], day=old_day),
        seed_message("Fresh", paragraphs(8), day=new_day),
    )
    assert copy.cluster == old.id
    assert bucket_values(store)
    seqs = store.client.hmget(store.keys.neardup_ids, [old.id, copy.id, fresh.id])
    assert all(seqs)
    assert store.client.exists(*[store.keys.neardup(s.decode()) for s in seqs]) == 3
    retained = settings.model_copy(update={"record_retention_days": 7})
    report = prune(Store(store.client, retained))
    assert report.records == 2
    gone = [store.keys.neardup(s.decode()) for s in seqs[:2]]
    assert not store.client.exists(*gone)
    assert not store.client.exists(store.keys.cluster(old.id))
    assert store.client.hkeys(store.keys.neardup_ids) == [fresh.id.encode()]
    # Only the fresh record's band keys are left, each holding only its seq.
    assert bucket_values(store) == [seqs[2]] * 12
    # A copy of the pruned story starts a cluster of its own.
    [again] = run(store, settings, seed_message("Again", story[2:], day=new_day))
    assert again.cluster == again.id


@pytest.mark.parametrize("workers", [4])
def test_concurrent_writers_agree_on_one_cluster(
    store: Store, settings: Settings, workers: int
) -> None:
    """Copies stored at once by several writers all land in the cluster of the first stored."""
    story = paragraphs(9, 10)
    copies = [story[:n] + story[n + 1 :] for n in range(12)]  # each drops one paragraph

    def writer(n: int) -> None:
        own = Store.from_url(settings.redis_url or "", settings)
        mine = [seed_message(f"copy {k}", c) for k, c in enumerate(copies) if k % workers == n]
        for message in mine:
            pipeline.process_batch([message], own, settings)
        own.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = list(reads(store).records())
    assert len(records) == len(copies)
    first_id = events(store)[0]["id"]
    assert {r.cluster for r in records} == {first_id}


def shard_layout(store: Store) -> dict[int, dict[int, dict[bytes, bytes]]]:
    """Band -> shard -> that shard's fields (band value -> seqs)."""
    prefix = store.keys.neardup_shard_prefix
    out: dict[int, dict[int, dict[bytes, bytes]]] = {}
    for key in store.client.scan_iter(prefix + "*"):
        band, shard = map(int, key.decode().removeprefix(prefix).split(":"))
        out.setdefault(band, {})[shard] = store.client.hgetall(key)
    return out


def test_clusters_are_found_as_the_shards_split_and_pruned_from_them(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One shard per record and band: each record splits a shard of every band, a copy
    filed many splits later finds the first record, every value sits at its address, and
    retention drops each pruned seq from wherever its value moved."""
    monkeypatch.setattr(bandspec, "SHARD_FIELDS", 1)
    story = paragraphs(9)
    old_day = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    new_day = datetime.now(UTC).date().isoformat()
    others = [seed_message(f"Other {n}", paragraphs(100 + n), day=new_day) for n in range(20)]
    first, *rest = run(
        store,
        settings,
        seed_message("First", story, day=old_day),  # seq 1
        *others[:9],  # seqs 2-10
        seed_message("Copy", story[1:], day=old_day),  # seq 11
        *others[9:],  # seqs 12-22
        seed_message("Again", story[:-1], day=new_day),  # seq 23
    )
    copy, again = rest[9], rest[-1]
    assert (copy.cluster, again.cluster) == (first.id, first.id)
    assert {r.cluster for r in rest} - {first.id} == {r.id for r in rest} - {copy.id, again.id}

    def check_layout(seqs: set[bytes]) -> None:
        layout = shard_layout(store)
        assert sorted(layout) == list(range(bandspec.BANDS))
        filed: list[bytes] = []
        for shards in layout.values():
            assert max(shards) < banding.shard_count(23)
            for shard, fields in shards.items():
                for value, listed in fields.items():
                    assert banding.shard_address(value, banding.shard_count(23)) == shard
                    filed += listed.split()
        assert set(filed) == seqs
        assert all(filed.count(s) == bandspec.BANDS for s in seqs)  # no bucket was full

    check_layout({str(n).encode() for n in range(1, 24)})
    retained = settings.model_copy(update={"record_retention_days": 7})
    assert prune(Store(store.client, retained)).records == 2
    check_layout({str(n).encode() for n in range(1, 24)} - {b"1", b"11"})
