"""The HTTP API (``ingest serve``): enqueue documents and feeds, read records and changes.

``app.py`` builds the FastAPI application from an :class:`state.ApiState`; ``server.py``
checks the keys and the address, then runs it on uvicorn. Writes go through the
producer (worker/queue/producer.py), reads through the read client (worker/read/client.py).
"""
