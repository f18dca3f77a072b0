"""The one exception tree of the ingestion worker.

::

    IngestError
    ├── RejectedInput          permanent: bad input, never retried, stored as a Rejection
    │   └── FeedFetchError     a feed URL that could not be fetched (`retryable`, `retry_after`)
    │       └── FeedHttpError  an error status: reason ``feed.http_<status>``
    ├── TransientError         infrastructure: retried with backoff
    │   ├── StoreUnavailable   Redis down or timing out
    │   │   ├── StoreFull      Redis at its maxmemory: writes refused, nothing evicted
    │   │   └── StoreMisconfigured  (also a ConfigError, below)
    │   ├── StoreContention    writers kept racing on one record: run the batch again
    │   ├── QueueUnavailable   the broker refused a message after the producer's retries
    │   └── HostBusy           a feed's host is not to be asked yet (politeness): run later
    ├── InputError             a path the producer cannot read (missing, not a regular file)
    ├── RunFailed              `ingest run` could not finish (its worker died, or timed out)
    │   └── RunInterrupted     `ingest run` caught a signal (``signum``) and stopped
    ├── RequestRefused         an HTTP API request refused: status, reason code, detail
    ├── StoreError             the store refused a command (a key of another type, a script
    │                          error): not transient, names what Redis said
    └── ConfigError            a bad setting; fails at start, naming the variable
        ├── NoServerBinary     embedded mode, and no usable redis-server / valkey-server
        ├── UnsafeDataDir      the embedded store's folder cannot be made private
        ├── RuleError          a feed's keep or block rule that cannot be used (a ValueError)
        ├── OpmlError          not a usable OPML subscription list (a ValueError)
        ├── MissingSecret      a feed's auth variable unset, empty or unusable
        └── StoreMisconfigured INGEST_REDIS_URL reaches no usable store (its database
                               number, its password, or not a Redis at all)

worker/storage/connection.py maps every redis-py error to one of these, in one table.

Every exception this package raises on purpose is defined here.

Input faults are data, not crashes: the pipeline turns a ``RejectedInput`` into a
rejection record. Reason codes are the stable strings of :class:`Reason`.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable, machine-readable rejection codes. Never rename one: consumers match on them."""

    SEED_EMPTY = "seed.empty"
    SEED_TOO_LARGE = "seed.too_large"
    SEED_BINARY = "seed.binary"
    SEED_BAD_ENCODING = "seed.bad_encoding"
    SEED_NO_HEADER = "seed.no_header"
    SEED_BAD_DATE = "seed.bad_date"
    SEED_NO_TITLE = "seed.no_title"
    SEED_NO_BODY = "seed.no_body"
    SEED_INVALID = "seed.invalid"
    FEED_NOT_A_FEED = "feed.not_a_feed"
    FEED_TOO_LARGE = "feed.too_large"
    FEED_EMPTY = "feed.empty"
    FEED_BAD_URL = "feed.bad_url"
    FEED_BLOCKED_ADDRESS = "feed.blocked_address"
    FEED_TIMEOUT = "feed.timeout"
    FEED_TOO_MANY_REDIRECTS = "feed.too_many_redirects"
    FEED_CONNECTION = "feed.connection_failed"
    FEED_BAD_CONTENT_ENCODING = "feed.bad_content_encoding"
    FEED_DNS = "feed.dns_failed"
    FEED_TLS = "feed.tls_error"
    FEED_BAD_RESPONSE = "feed.bad_response"
    FEED_TOO_MANY_ENTRIES = "feed.too_many_entries"  # one note after the entries kept
    FEED_NOT_MODIFIED = "feed.not_modified"  # not a rejection: the reason of a 304 duplicate
    FEED_HOST_BACKOFF = "feed.host_backoff"
    FEED_AUTH = "feed.auth_missing"
    FEED_CONFIG = "feed.bad_config"
    ENTRY_NO_TITLE = "entry.no_title"
    ENTRY_NO_CONTENT = "entry.no_content"
    ENTRY_INVALID = "entry.invalid"
    ENTRY_DUPLICATE_ID = "entry.duplicate_id"
    ENTRY_FILTERED = "entry.filtered"
    INPUT_MALFORMED = "input.malformed"
    INPUT_EXPIRED = "input.expired"
    INPUT_MALFORMED_MESSAGE = "input.malformed_message"
    WORKER_LOST_REPEATEDLY = "worker.lost_repeatedly"
    WORKER_TIMEOUT = "worker.timeout"
    INTERNAL_ERROR = "worker.internal_error"


class IngestError(Exception):
    """Base class of every error this package raises on purpose."""


class RejectedInput(IngestError):
    """Input that can never become a record. Carries the reason code and a human detail."""

    def __init__(self, reason: Reason | str, detail: str, *, source: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = str(reason)
        self.detail = detail
        self.source = source


class FeedFetchError(RejectedInput):
    """A feed URL that could not be fetched this time: the input is rejected.

    ``retryable`` says whether a later poll may succeed (timeouts, connection faults, 429,
    5xx); ``retry_after`` is the server's Retry-After in seconds, when it sent one. A poller
    schedules its next try from them; a one-shot run just records the rejection.
    """

    def __init__(
        self,
        reason: Reason | str,
        detail: str,
        *,
        source: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason, detail, source=source)
        self.retryable = retryable
        self.retry_after = retry_after


class FeedHttpError(FeedFetchError):
    """A feed server answered with an error status; the reason is ``feed.http_<status>``."""

    def __init__(
        self, status: int, detail: str, *, source: str = "", retry_after: float | None = None
    ) -> None:
        retryable = status in (408, 425, 429) or status >= 500
        super().__init__(
            f"feed.http_{status}",
            detail,
            source=source,
            retryable=retryable,
            retry_after=retry_after,
        )
        self.status = status


class TransientError(IngestError):
    """A fault outside the input that may go away: the task is retried with backoff."""


class StoreUnavailable(TransientError):
    """Redis could not be reached or did not answer in time."""


class StoreFull(StoreUnavailable):
    """Redis reached its ``maxmemory`` (noeviction): it refuses writes until memory is freed."""


class StoreContention(TransientError):
    """Writers changed the same record under each other for every retry round: try again."""


class StoreError(IngestError):
    """The store refused a command: a key holding another type, a script's error."""


class QueueUnavailable(TransientError):
    """The broker could not take a message, even after the producer's retries."""


class HostBusy(TransientError):
    """A feed's host may not be asked yet (per-host politeness): run the input later.

    ``retry_in`` is the seconds until the slot reserved for it; the task is deferred by
    that much rather than holding its worker process.
    """

    def __init__(self, host: str, retry_in: float) -> None:
        super().__init__(f"host {host} busy: retry in {retry_in:.1f} s")
        self.host = host
        self.retry_in = retry_in


class InputError(IngestError):
    """A path the producer cannot read as an input (missing, not a regular file)."""


class RunFailed(IngestError):
    """The run itself could not finish (the worker died, or the timeout passed)."""


class RequestRefused(IngestError):
    """A request the HTTP API refuses, answered with ``status`` and a JSON error body.

    ``reason`` is a stable code (``auth.missing``, ``body.too_large``, ...: see
    worker/api/errors.py); ``headers`` go on the response (``Retry-After``,
    ``WWW-Authenticate``).
    """

    def __init__(
        self, status: int, reason: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers or {}


class RunInterrupted(RunFailed):
    """A signal stopped ``ingest run``; ``signum`` is the signal it caught."""

    def __init__(self, signum: int, left: int | None = None) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.left = left


class ConfigError(IngestError):
    """A setting with a bad value. The message names the environment variable."""


class NoServerBinary(ConfigError):
    """No usable redis-server / valkey-server for the embedded store; names the fix."""


class UnsafeDataDir(ConfigError):
    """The embedded store's data folder cannot be made private to this user; names the fix."""


class RuleError(ConfigError, ValueError):
    """A keep or block rule that cannot be used; the message names the pattern."""


class OpmlError(ConfigError, ValueError):
    """A document that is not a usable OPML subscription list; the message says why."""


class MissingSecret(ConfigError):
    """An auth environment variable that is unset, empty or unusable; names the variable."""


class StoreMisconfigured(ConfigError, StoreUnavailable):
    """``INGEST_REDIS_URL`` reaches no usable store: a database number the server does not
    have, a password it refuses, or a server that does not speak Redis. A configuration
    error for the CLI (one line, naming the setting); for a worker it stays a store it
    cannot use yet, waited on like an unavailable one.
    """
