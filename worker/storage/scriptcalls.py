"""One typed value per Lua script: its KEYS and ARGV by name, in the script's own order.

Every script in ``worker/storage/lua`` binds each KEYS and ARGV entry to a named local at
its top (``local outcome_key = KEYS[1]`` ...) under a header listing them. Each class here
names its script and declares the same names as fields in the same order: a field made
with :func:`key` goes to KEYS, any other to ARGV; one made with ``tail=True`` (last of its
kind) is a variable-length list spread one entry each. ``tests/storage/test_lua_contracts.py``
holds each class against its script, so reordering either side fails there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

Arg = str | bytes | int | float
KEYS, ARGV = "KEYS", "ARGV"


def key(*, tail: bool = False) -> Any:
    """A field that goes to KEYS (``tail``: a list spread at the end of KEYS)."""
    return field(metadata={"lua": KEYS, "tail": tail})


def tail() -> Any:
    """A list field spread at the end of ARGV."""
    return field(metadata={"lua": ARGV, "tail": True})


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptCall:
    """The arguments of one call of :attr:`script`."""

    script: ClassVar[str]

    def keys_and_args(self) -> tuple[list[str], list[Arg]]:
        """KEYS and ARGV, each in the order of the fields."""
        lists: dict[str, list[Any]] = {KEYS: [], ARGV: []}
        for f in fields(self):
            target = lists[f.metadata.get("lua", ARGV)]
            value = getattr(self, f.name)
            if f.metadata.get("tail"):
                target.extend(value)
            else:
                target.append(value)
        return lists[KEYS], lists[ARGV]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsertCall(ScriptCall):
    """``upsert.lua``: store a record (or find it a duplicate) and the input's outcome."""

    script: ClassVar[str] = "upsert.lua"
    outcome_key: str = key()
    record_key: str = key()
    by_published_key: str = key()
    by_source_key: str = key()
    sources_key: str = key()
    by_content_hash_key: str = key()
    record_events_key: str = key()
    stats_key: str = key()
    reply_key: str = key()
    tombstones_key: str = key()
    neardup_seq_key: str = key()
    neardup_ids_key: str = key()
    meta: bytes
    record_id: str
    content_hash: str
    score: float
    source: str
    now_iso: str
    outcome_ttl: int
    stream_maxlen: int
    input_id: str
    kind: str
    by_source_prefix: str
    packed_paragraphs: bytes
    entry_url: str
    now_epoch: float
    record_prefix: str
    max_seen_in: int
    neardup_prefix: str
    cluster_prefix: str
    min_slots: int
    base_hash: str
    paragraphs_added: str
    paragraphs_removed: str
    paragraphs_changed: str
    signature: bytes
    bands: int
    rows: int
    shard_fields: int
    neardup_shard_prefix: str
    activity_prefix: str
    decided: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DecideCall(ScriptCall):
    """``decide.lua``: a sharded store's tombstones, content hashes and near-duplicates."""

    script: ClassVar[str] = "decide.lua"
    by_content_hash_key: str = key()
    tombstones_key: str = key()
    neardup_seq_key: str = key()
    neardup_ids_key: str = key()
    neardup_scores_key: str = key()
    record_id: str
    content_hash: str
    prev_hash: str
    kind: str
    now_epoch: float
    score: float
    neardup_prefix: str
    cluster_prefix: str
    min_slots: int
    signature: bytes
    bands: int
    rows: int
    shard_fields: int
    neardup_shard_prefix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectCall(ScriptCall):
    """``reject.lua``: store a rejection, its event, counters and the input's outcome."""

    script: ClassVar[str] = "reject.lua"
    outcome_key: str = key()
    rejection_key: str = key()
    rejections_key: str = key()
    payload_key: str = key()
    rejection_events_key: str = key()
    stats_key: str = key()
    reply_key: str = key()
    reasons_key: str = key()
    rejection: str
    input_id: str
    rejected_at: float
    payload: bytes
    outcome_ttl: int
    stream_maxlen: int
    reason: str
    source: str
    rejected_at_iso: str
    count_input: str
    activity_prefix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotModifiedCall(ScriptCall):
    """``not_modified.lua``: the duplicate outcome of a feed fetch answered 304."""

    script: ClassVar[str] = "not_modified.lua"
    outcome_key: str = key()
    stats_key: str = key()
    reply_key: str = key()
    input_id: str
    source: str
    outcome_ttl: int
    reason: str
    activity_prefix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpandCall(ScriptCall):
    """``expand.lua``: how many entries each feed input became."""

    script: ClassVar[str] = "expand.lua"
    stats_key: str = key()
    expanded_keys: Sequence[str] = key(tail=True)
    ttl: int
    entry_counts: Sequence[int] = tail()


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneCall(ScriptCall):
    """``prune.lua``: delete the records among ``record_ids`` published before a cutoff."""

    script: ClassVar[str] = "prune.lua"
    by_published_key: str = key()
    by_content_hash_key: str = key()
    sources_key: str = key()
    stats_key: str = key()
    tombstones_key: str = key()
    record_events_key: str = key()
    neardup_seq_key: str = key()
    neardup_ids_key: str = key()
    cutoff: float
    no_date_score: float
    record_prefix: str
    by_source_prefix: str
    now_iso: str
    tombstones_until: float
    stream_maxlen: int
    neardup_prefix: str
    cluster_prefix: str
    neardup_shard_prefix: str
    bands: int
    rows: int
    shard_fields: int
    store_wide: str = "1"
    record_ids: Sequence[bytes | str] = tail()


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetCall(ScriptCall):
    """``forget.lua``: a sharded store's store-wide part of pruning records."""

    script: ClassVar[str] = "forget.lua"
    by_content_hash_key: str = key()
    tombstones_key: str = key()
    neardup_seq_key: str = key()
    neardup_ids_key: str = key()
    neardup_scores_key: str = key()
    tombstones_until: float
    neardup_prefix: str
    cluster_prefix: str
    neardup_shard_prefix: str
    bands: int
    rows: int
    shard_fields: int
    records: Sequence[str] = tail()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimFeedCall(ScriptCall):
    """``claim_feed.lua``: claim a subscribed feed for a poll if it is due."""

    script: ClassVar[str] = "claim_feed.lua"
    feed_state_key: str = key()
    feeds_key: str = key()
    now: float
    lease: int
    interval: float
    url: str
    first_poll: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSlotCall(ScriptCall):
    """``host_slot.lua``: take a fetch slot on a host, or learn when to come back."""

    script: ClassVar[str] = "host_slot.lua"
    host_key: str = key()
    leases_key: str = key()
    reservation_key: str = key()
    token: str
    concurrency: int
    delay_ms: int
    lease_ms: int
    max_wait_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HostBlockCall(ScriptCall):
    """``host_block.lua``: no fetch from a host starts for so many seconds."""

    script: ClassVar[str] = "host_block.lua"
    host_key: str = key()
    seconds: float


CALLS: tuple[type[ScriptCall], ...] = (
    UpsertCall,
    DecideCall,
    RejectCall,
    NotModifiedCall,
    ExpandCall,
    PruneCall,
    ForgetCall,
    ClaimFeedCall,
    HostSlotCall,
    HostBlockCall,
)
