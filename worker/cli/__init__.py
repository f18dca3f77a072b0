"""The ``ingest`` command line. List commands take ``--json``: one object per line on stdout.

The commands live in modules by what they do; importing them registers them on ``main``.
"""

from __future__ import annotations

from worker.cli import feeds, ingesting, operating, reading
from worker.cli.base import main

__all__ = ["feeds", "ingesting", "main", "operating", "reading"]
