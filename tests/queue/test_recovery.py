"""kombu's Redis transport after a lost connection: real channels on the private Redis.

When Redis goes away, kombu closes the old channel (its ``connection`` becomes None and
its pools are dropped), but a task that finishes after the reconnect still acknowledges
its message through that old channel. Unpatched, that raises AttributeError and Celery
exits with "Unrecoverable error". The worker's patch settles it locally and leaves the
message in kombu's ``unacked`` hash, where the visibility timeout brings it back.
"""

from __future__ import annotations

from collections.abc import Iterator

import kombu
import pytest
import redis

from worker.core.errors import ConfigError
from worker.queue import kombu_patch
from worker.queue.kombu_patch import ORIGINAL, channel_gone, install
from worker.storage.brokerqueues import UNACKED


@pytest.fixture
def delivered(redis_url: str) -> Iterator[tuple[kombu.Connection, kombu.Message]]:
    """A message delivered (unacknowledged) on a channel that then lost its connection."""
    install()
    conn = kombu.Connection(redis_url)
    channel = conn.channel()
    queue = kombu.Queue("kq", exchange=kombu.Exchange("kq"), routing_key="kq")
    kombu.Producer(channel).publish(
        {"n": 1}, exchange=queue.exchange, routing_key="kq", declare=[queue], serializer="json"
    )
    message = queue(channel).get(no_ack=False)
    assert message is not None
    channel.close()
    channel._disconnect_pools()  # what the transport does when the connection is lost
    yield conn, message
    conn.release()


def kept(redis_url: str) -> int:
    """Copies of the message still in Redis: unacknowledged, or back in its queue."""
    client = redis.Redis.from_url(redis_url)
    return int(client.hlen(UNACKED)) + int(client.llen("kq"))


def test_unpatched_ack_on_a_lost_channel_raises(
    delivered: tuple[kombu.Connection, kombu.Message],
) -> None:
    _, message = delivered
    with pytest.raises(AttributeError, match="client"):
        ORIGINAL["ack"](message.channel.qos, message.delivery_tag)


@pytest.mark.parametrize("settle", ["ack", "reject", "requeue"])
def test_settling_on_a_lost_channel_keeps_the_message_for_redelivery(
    delivered: tuple[kombu.Connection, kombu.Message], redis_url: str, settle: str
) -> None:
    _, message = delivered
    if settle == "ack":
        message.ack()
    else:
        message.reject(requeue=settle == "requeue")
    assert message.delivery_tag not in message.channel.qos._delivered
    assert kept(redis_url) == 1  # not lost: it comes back (visibility timeout or queue)


def test_restoring_a_lost_channel_leaves_messages_to_the_visibility_timeout(
    delivered: tuple[kombu.Connection, kombu.Message], redis_url: str
) -> None:
    _, message = delivered
    message.channel.qos.restore_unacked()
    assert not message.channel.qos._delivered
    assert kept(redis_url) == 1


def test_an_untested_kombu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kombu_patch, "ORIGINAL", {})
    monkeypatch.setattr(kombu_patch, "version", lambda name: "9.1.0")
    with pytest.raises(ConfigError, match=r"kombu 9\.1\.0 is untested"):
        install()


class _Channel:
    """A channel whose kombu no longer has the attributes the patch reads."""


class _QoS:
    def __init__(self, channel: object) -> None:
        self.channel = channel


def test_the_patch_fails_closed_when_kombu_renames_its_attributes() -> None:
    assert not channel_gone(_QoS(_Channel()))  # no `connection` at all: not taken as gone
    renamed = _Channel()
    renamed.connection = _Channel()  # type: ignore[attr-defined]  # no `client` on it
    assert not channel_gone(_QoS(renamed))
    dropped = _Channel()
    dropped.connection = None  # type: ignore[attr-defined]
    assert channel_gone(_QoS(dropped))
