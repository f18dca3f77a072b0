"""Each Lua script's KEYS and ARGV, by name, against the typed value that builds them.

A script lists its KEYS and ARGV in a header and binds each to a named local at its top
(``local outcome_key = KEYS[1]``; a variable-length tail as ``local record_ids_at = 14  --
ARGV[14..]: record_ids``). Its class in ``worker.storage.scriptcalls`` declares the same
names in the same order: reordering, renaming or adding on one side only fails here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.helpers import reads
from worker.core.keys import Keys
from worker.core.models import Accepted, Record
from worker.core.settings import Settings
from worker.pipeline.enrich import enrich
from worker.storage import scripts
from worker.storage.retention import prune_records
from worker.storage.scriptcalls import ARGV, CALLS, KEYS, ScriptCall
from worker.storage.store import Store
from worker.text.normalise import content_hash

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "worker" / "storage" / "lua"
BINDING = re.compile(r"^local (\w+) = (?:tonumber\()?(KEYS|ARGV)\[(\d+)\]\)?$")
TAIL = re.compile(r"^local (\w+)_at = (\d+)  -- (KEYS|ARGV)\[(\d+)\.\.\]: (\w+)$")
HEADER_NAME = re.compile(r"^--   (\w+)(\.\.\.)?(\s|$)")
POSITIONAL = re.compile(r"\b(KEYS|ARGV)\[\d")


@dataclass
class Contract:
    """What a script says it takes: names (a tail marked ``...``) per KEYS and ARGV."""

    header: dict[str, list[str]]
    bindings: dict[str, list[str]]
    body: list[str]


def contract(name: str) -> Contract:
    lines = (LUA / name).read_text().splitlines()
    header: dict[str, list[str]] = {KEYS: [], ARGV: []}
    bindings: dict[str, list[str]] = {KEYS: [], ARGV: []}
    section, start = None, len(lines)
    for n, line in enumerate(lines):
        if line in ("-- KEYS:", "-- ARGV:"):
            section = line[3:-1]
        elif line.startswith("--"):
            if section and (m := HEADER_NAME.match(line)):
                header[section].append(m.group(1) + (m.group(2) or ""))
            elif not line.startswith("--    "):  # not a description's second line
                section = None
        elif m := BINDING.match(line):
            names = bindings[m.group(2)]
            assert int(m.group(3)) == len(names) + 1, f"{name}: {line} is out of order"
            names.append(m.group(1))
        elif m := TAIL.match(line):
            bare, at, kind, index, named = m.groups()
            assert bare == named, f"{name}: {line}"
            assert at == index, f"{name}: {line}"
            assert int(at) == len(bindings[kind]) + 1, f"{name}: {line} is out of order"
            bindings[kind].append(bare + "...")
        else:
            start = n
            break
    return Contract(header, bindings, lines[start:])


def python_side(call: type[ScriptCall]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {KEYS: [], ARGV: []}
    for f in fields(call):
        names[f.metadata.get("lua", ARGV)].append(
            f.name + ("..." if f.metadata.get("tail") else "")
        )
    return names


def test_every_script_with_arguments_has_one_call_type() -> None:
    with_header = {p.name for p in LUA.glob("*.lua") if "-- KEYS:" in p.read_text()}
    assert with_header == {c.script for c in CALLS}
    assert len(CALLS) == len({c.script for c in CALLS})


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.script)
def test_header_bindings_and_fields_agree(call: type[ScriptCall]) -> None:
    found = contract(call.script)
    assert found.bindings[KEYS], f"{call.script} binds no KEYS"
    assert found.header == found.bindings, f"{call.script}: header and bindings differ"
    assert python_side(call) == found.bindings, f"{call.__name__} and {call.script} differ"
    for kind in (KEYS, ARGV):  # a tail comes last
        assert all(not n.endswith("...") for n in found.bindings[kind][:-1])


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.script)
def test_no_positional_reads_below_the_bindings(call: type[ScriptCall]) -> None:
    body = contract(call.script).body
    assert not re.search(r"local \w+_at = \d+", "\n".join(body)), call.script
    for line in body:
        assert not POSITIONAL.search(line), f"{call.script}: {line.strip()}"


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.script)
def test_key_prefixes_come_from_keys(call: type[ScriptCall]) -> None:
    """A script reaches a run-time key only through a prefix that keys.py builds."""
    keys = Keys("ns")
    for name in python_side(call)[ARGV]:
        if name.endswith("_prefix"):
            assert isinstance(getattr(keys, name), str), name


def test_layout_doc_names_each_scripts_prefixes() -> None:
    doc = (ROOT / "docs" / "redis-layout.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+\.lua)` \| (.+) \|$", doc, re.MULTILINE))
    for call in CALLS:
        prefixes = {f"`{n}`" for n in python_side(call)[ARGV] if n.endswith("_prefix")}
        listed = rows[call.script]
        assert (set(listed.split(", ")) if listed != "none" else set()) == prefixes, call.script


def test_values_land_in_their_named_places() -> None:
    """Each field's value goes to the KEYS or ARGV position its script binds it at."""
    for call in CALLS:
        values = {
            f.name: [f"{f.name}.0", f"{f.name}.1"] if f.metadata.get("tail") else f.name
            for f in fields(call)
        }
        keys, args = call(**values).keys_and_args()
        found = contract(call.script).bindings
        for kind, got in ((KEYS, keys), (ARGV, args)):
            expected: list[str] = []
            for name in found[kind]:
                bare = name.removesuffix("...")
                expected += [f"{bare}.0", f"{bare}.1"] if name.endswith("...") else [bare]
            assert got == expected, call.script


def test_shared_outcome_write_is_one_piece() -> None:
    """The outcome write lives in outcome.lua; the three scripts that need it include it."""
    writers = ["upsert.lua", "reject.lua", "not_modified.lua"]
    for name in writers:
        text = (LUA / name).read_text()
        assert "--#include outcome.lua" in text
        assert "'RPUSH'" not in text, name
        assert "'EX'" not in text, name
        assert "write_outcome(" in scripts.source(name)


def test_every_key_the_scripts_write_is_one_keys_py_names(store: Store, settings: Settings) -> None:
    """Near-duplicates, a moved source, an update and a prune: every key the scripts made
    (some only learnt at run time) is a key or under a prefix that keys.py builds."""
    words = " ".join(f"word{n}" for n in range(80))
    first = record("seed-a", "a.txt", words, datetime(2001, 1, 1, tzinfo=UTC))
    near = record("seed-b", "b.txt", words + " more", datetime(2001, 1, 2, tzinfo=UTC))
    moved = record("seed-b", "c.txt", words + " other", datetime(2001, 1, 3, tzinfo=UTC))
    for n, item in enumerate([first, near, moved]):
        [outcome] = store.commit([enrich(Accepted(f"in-{n}", item), settings)], reply_to="run")
        assert outcome.outcome in ("created", "updated")
    assert reads(store).get("seed-b").cluster == "seed-a"  # type: ignore[union-attr]
    store.expand({"in-0": 2})
    before = [k.decode() for k in store.client.scan_iter(match="*")]
    assert prune_records(store, datetime(2020, 1, 1, tzinfo=UTC), 10, datetime.now(UTC)) == 2
    keys = store.keys
    exact = {
        getattr(keys, name)
        for name in dir(keys)
        if isinstance(getattr(type(keys), name, None), property) and not name.endswith("_prefix")
    }
    prefixes = [
        getattr(keys, n) for n in dir(keys) if n.endswith("_prefix") and not n.startswith("_")
    ]
    prefixes += [keys.outcome(""), keys.expanded(""), keys.reply("")]
    after = [k.decode() for k in store.client.scan_iter(match="*")]
    assert any(k.startswith(keys.neardup_shard_prefix) for k in before)
    assert keys.tombstones in after
    for key in before + after:
        assert key in exact or any(key.startswith(p) for p in prefixes), key


def record(record_id: str, source: str, text: str, published: datetime) -> Record:
    return Record.model_validate(
        {
            "id": record_id,
            "kind": "seed",
            "source": source,
            "title": "The same story",
            "published": published,
            "paragraphs": [text],
            "text": text,
            "word_count": len(text.split()),
            "content_hash": content_hash("The same story", text),
            "ingested_at": datetime(2024, 3, 6, tzinfo=UTC),
            "version": 1,
        }
    )
