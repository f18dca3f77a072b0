"""``python -m worker``: the ``ingest`` command."""

from worker.cli import main

main()
