"""Redis faults become StoreUnavailable at the storage boundary, whoever calls."""

from __future__ import annotations

import pytest

from tests.support.helpers import reads
from worker.core.errors import StoreUnavailable
from worker.core.models import Envelope, InputKind
from worker.core.settings import Settings
from worker.pipeline import process
from worker.pipeline.feedentries import FeedFetcher
from worker.runtime.embedded import free_port
from worker.storage.connection import connect
from worker.storage.store import Store


@pytest.fixture
def gone() -> Store:
    """A store whose Redis does not answer (nothing listens on the port)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    return Store.from_url(url, Settings(redis_url=url, namespace="test"))


def test_a_feed_url_during_an_outage_is_retried_not_rejected(gone: Store) -> None:
    envelope = Envelope(
        input_id="f1",
        kind=InputKind.FEED_URL,
        source="https://a.example/feed",
        url="https://a.example/feed",
    )
    with pytest.raises(StoreUnavailable):
        process.prepare(envelope, gone.settings, FeedFetcher(gone, gone.settings))


def test_a_batch_during_an_outage_raises_a_transient_error(gone: Store) -> None:
    message = {"input_id": "s1", "kind": "seed", "source": "a.txt", "data": "ZGF0ZQ=="}
    with pytest.raises(StoreUnavailable):
        process.process_batch([message], gone, gone.settings)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.stats(),
        lambda s: reads(s).get("seed-x"),
        lambda s: list(reads(s).records()),
        lambda s: s.feeds.state("https://a.example/"),
        lambda s: s.ledger.pending(0),
        lambda s: s.replies.take("run", 0),
        lambda s: reads(s).groups(),
    ],
)
def test_every_concern_maps_redis_faults(gone: Store, call: object) -> None:
    with pytest.raises(StoreUnavailable):
        call(gone)  # type: ignore[operator]


@pytest.mark.parametrize("url", ["amqp://guest@localhost//", "http://x/", "redis://h:notaport/0"])
def test_a_url_redis_cannot_use_is_refused_cleanly(url: str) -> None:
    with pytest.raises(StoreUnavailable):
        connect(url).ping()
