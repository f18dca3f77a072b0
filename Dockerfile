# syntax=docker/dockerfile:1
# The image every service of docker-compose.yml runs: worker, beat, api, flower, metrics,
# producer.
# Two stages: wheels that need compiling are built in the first; the final image has the
# virtualenv only (no compiler, no headers) and runs as an unprivileged user.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements/image.txt ./requirements/image.txt
# The locked, hash-checked dependencies (with Flower), then the package without resolving.
# --no-deps: the lock lists every package, so pip resolves nothing (and any pip the base
# image's venv brings takes it: older pips refuse some hashed universal locks otherwise).
RUN /opt/venv/bin/pip install --no-deps --require-hashes -r requirements/image.txt
COPY pyproject.toml setup.py README.md ./
COPY worker ./worker
# The enrichment's C kernels (worker/text/kernels.py) are compiled here: refuse an image
# that would run their numpy twins at twice the cost.
RUN /opt/venv/bin/pip install --no-deps . \
    && cd / && /opt/venv/bin/python -c "from worker.text import kernels; assert kernels.compiled()"

FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 ingest \
    && useradd --system --uid 10001 --gid ingest --create-home --home-dir /home/ingest ingest \
    && install -d -o ingest -g ingest /var/lib/ingest /var/lib/ingest/beat
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INGEST_CONFIG_FILE=/app/config/ingest.toml \
    INGEST_FEEDS_FILE=/app/config/feeds.toml \
    INGEST_DATA_DIR=/var/lib/ingest
USER ingest
# The language model's tables, uncompressed into the user's cache folder
# (worker.text.langcache): no container spends a second loading them on its first document.
RUN python -c "from worker.text.language import model; model()" \
    && test -f /home/ingest/.cache/news-ingest/langmodel-*/meta.json
# Settings valid, store and broker answer. Compose gives each service a closer check.
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD ["ingest", "health"]
CMD ["ingest", "worker"]
