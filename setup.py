"""The one thing pyproject.toml cannot say yet (setuptools calls it experimental there).

The enrichment's kernels (worker/text/kernels.py): compiled where a C compiler and Python's
headers are found; elsewhere the build skips them (optional) and numpy does the same work.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("worker.text._kernels", ["worker/text/_kernels.c"], optional=True),
    ]
)
