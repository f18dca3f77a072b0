"""The worker process of ``ingest run``: started first, told where the store is later.

``python -m worker.runtime.localworker`` imports Celery and the pipeline at once, while
``ingest run`` starts the embedded store and reads the inputs; then it reads one JSON line
on stdin (the store's URL, the queue, the node name, the pool, the log level: see
:class:`worker.runtime.run.LocalWorker`) and runs a Celery worker on it. It skips Celery's
command line (``celery -A worker worker``), whose imports alone take a quarter of a
second. Stdin closed before the line: nothing to do.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import orjson

from worker.core.configfiles import ENV_PREFIX
from worker.core.settings import get_settings

POLL_SECONDS = 0.1


def serve(options: dict[str, Any]) -> int:
    """Run a Celery worker on the store and queue the options name; its exit code."""
    from celery.utils.nodenames import default_nodename, host_format

    from worker.queue.app import make_app

    url = str(options["url"])
    os.environ[f"{ENV_PREFIX}REDIS_URL"] = url  # as `celery -A worker` would find it
    # The run's own queue: its recovery sweep publishes again only the batches lost there.
    os.environ[f"{ENV_PREFIX}QUEUE"] = str(options["queue"])
    get_settings.cache_clear()
    app = make_app(get_settings(), url)
    # A warm shutdown waits for the BRPOP in flight to return (kombu drains it before
    # closing the channel), and the loop notices the stop signal only then: with kombu's
    # 1 s timeout that is half a second on average, every run. This short-lived worker
    # asks again every 0.1 s instead.
    transport = dict(app.conf.broker_transport_options or {})
    app.conf.broker_transport_options = {**transport, "polling_interval": POLL_SECONDS}
    extra: dict[str, Any] = {}
    if options.get("concurrency"):
        extra["concurrency"] = int(options["concurrency"])
    worker = app.Worker(
        hostname=host_format(default_nodename(str(options["name"]))),
        pool_cls=options.get("pool") or app.conf.worker_pool,
        loglevel=str(options["loglevel"]),
        queues=[str(options["queue"])],
        without_gossip=True,
        without_mingle=True,
        quiet=True,
        **extra,
    )
    worker.start()
    return int(worker.exitcode or 0)


def warm_up() -> None:
    """Import Celery's worker and the pipeline, and load the language model and kernels.

    Done while ``ingest run`` starts the store, before the line arrives, rather than on
    the run's first document. Not at the module's import: Celery's worker reads /proc
    when imported, and the model takes most of a second to load. The model loads in a
    thread beside the imports: most of its load is LZMA decompression, which releases
    the GIL, so on two cores the imports and the load overlap.
    """
    loader = threading.Thread(target=_load_model, name="language-model", daemon=True)
    loader.start()
    import celery.apps.worker  # noqa: F401

    import worker.queue.app  # noqa: F401

    loader.join()


def _load_model() -> None:
    from worker.text import neardup
    from worker.text.language import model

    model()
    neardup.minhasher()  # the compiled kernel's character table (about 0.1 s)


def main() -> int:
    warm_up()
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0  # ingest run stopped before it had a store
    return serve(orjson.loads(line))


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown (a quarter of a second), output flushed.

    The worker has stopped: its tasks are acknowledged and its connections closed.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
