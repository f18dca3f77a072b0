"""The ``ingest`` command line. List commands take ``--json``: one object per line on stdout.

The commands live in modules by what they do (``ingesting``, ``operating``, ``reading``,
``feeds``);
a module is imported, and registers its commands on ``main``, when one of them runs
(``base.COMMAND_MODULES``).
"""

from __future__ import annotations

from worker.cli.base import main

__all__ = ["main"]
