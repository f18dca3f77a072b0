"""`ingest serve` as a real process, with a real HTTP client, Redis and Celery worker."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.storage.test_store import message
from tests.support.api_helpers import READ_KEY, WRITE_KEY, ApiProcess, EventReader, auth
from tests.support.helpers import WorkerProcess, ingest, seed_bytes, wait_until
from worker.pipeline import process as pipeline
from worker.runtime.embedded import free_port
from worker.storage.reader import SCAN_BUDGET
from worker.storage.store import Store

pytestmark = pytest.mark.slow
CAP = 4096  # INGEST_MAX_DOCUMENT_BYTES of the server under test
TEXT = {"Content-Type": "text/plain"}


@pytest.fixture
def api(redis_url: str) -> Iterator[ApiProcess]:
    proc = ApiProcess(redis_url, INGEST_MAX_DOCUMENT_BYTES=str(CAP)).start()
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture
def client(api: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base, headers=auth(), timeout=60) as c:
        yield c


def post_seed(client: httpx.Client, title: str, day: str = "2024-03-05", **params: str) -> str:
    body = seed_bytes(title, f"The body of {title}.", day=day)
    response = client.post("/v1/documents", content=body, headers=TEXT, params=params)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/inputs/{response.json()['input_id']}"
    return str(response.json()["input_id"])


def outcome(client: httpx.Client, input_id: str) -> dict[str, object]:
    response = client.get(f"/v1/inputs/{input_id}", params={"wait": 30})
    assert response.status_code == 200, response.text
    [found] = response.json()["outcomes"]
    return dict(found)


def test_a_posted_document_is_readable_by_id_and_arrives_on_the_stream(
    api: ApiProcess, client: httpx.Client, worker_proc: WorkerProcess
) -> None:
    with EventReader(api, auth(READ_KEY)) as stream:
        input_id = post_seed(client, "Posted as text", source="wire/agency.txt")
        done = outcome(client, input_id)
        assert done["outcome"] == "created"
        assert done["source"] == "agency.txt"  # the last part of the path only
        record = client.get(f"/v1/records/{done['id']}").json()
        assert record["title"] == "Posted as text"
        assert record["paragraphs"] == ["The body of Posted as text."]
        [(event_id, kind, data)] = stream.wait_for(1)
        assert kind == "created"
        assert json.loads(data)["id"] == done["id"]
        assert json.loads(data)["stream_id"] == event_id

        document = {"title": "Posted as JSON", "published": "2024-04-01", "text": "One.\n\nTwo."}
        sent = client.post("/v1/documents", json={**document, "source": "feedless"})
        again = outcome(client, sent.json()["input_id"])
        assert (again["outcome"], again["source"]) == ("created", "feedless")
        record = client.get(f"/v1/records/{again['id']}").json()
        assert (record["title"], record["paragraphs"]) == ("Posted as JSON", ["One.", "Two."])
        assert record["published"] == "2024-04-01T00:00:00Z"
        assert [e[1] for e in stream.wait_for(2)] == ["created", "created"]

        same = outcome(client, post_seed(client, "Posted as text"))
        assert (same["outcome"], same["id"]) == ("duplicate", done["id"])
    assert client.get("/v1/records/seed-nothing").json()["error"]["reason"] == "not_found.record"


def test_an_input_is_404_before_its_outcome_and_rejections_carry_the_reason(
    redis_url: str, api: ApiProcess, client: httpx.Client
) -> None:
    input_id = post_seed(client, "Waiting for a worker")
    started = time.monotonic()
    missing = client.get(f"/v1/inputs/{input_id}", params={"wait": 0.5})
    assert missing.status_code == 404
    assert missing.json()["error"]["reason"] == "not_found.input"
    assert time.monotonic() - started >= 0.5  # it waited
    bad = client.post("/v1/documents", content=b"no header\n\nbody\n", headers=TEXT)
    worker = WorkerProcess(redis_url).start()
    try:
        assert outcome(client, input_id)["outcome"] == "created"
        rejected = outcome(client, bad.json()["input_id"])
    finally:
        worker.stop()
    assert (rejected["outcome"], rejected["reason"]) == ("rejected", "seed.no_header")
    assert "date" in str(rejected["detail"])
    listed = client.get("/v1/rejections", params={"reason": "seed"}).json()["rejections"]
    assert [r["input_id"] for r in listed] == [bad.json()["input_id"]]
    assert client.get("/v1/rejections", params={"reason": "feed"}).json()["rejections"] == []


def test_a_reconnecting_client_gets_exactly_the_events_it_missed(
    api: ApiProcess, client: httpx.Client, worker_proc: WorkerProcess
) -> None:
    with EventReader(api, auth(READ_KEY), after="0") as stream:
        first = outcome(client, post_seed(client, "Before the drop"))
        [(last_seen, _, _)] = stream.wait_for(1)
    missed = [outcome(client, post_seed(client, f"Missed {n}")) for n in range(3)]
    headers = {**auth(READ_KEY), "Last-Event-ID": last_seen}
    with EventReader(api, headers, after="0") as resumed:  # the header wins over ?after=
        got = resumed.wait_for(3)
        after_missed = outcome(client, post_seed(client, "After the reconnect"))
        got = resumed.wait_for(4)
        # Anything more would be a repeat: a second to let one show (nothing to wait for).
        time.sleep(1.0)
        got = list(resumed.events)
    ids = [json.loads(data)["id"] for _, _, data in got]
    assert ids == [o["id"] for o in [*missed, after_missed]]
    assert first["id"] not in ids
    assert [e[0] for e in got] == sorted(e[0] for e in got)


def test_keys_are_required_and_a_read_key_cannot_write(api: ApiProcess) -> None:
    document = seed_bytes("Keyed", "Body.")
    with httpx.Client(base_url=api.base, timeout=30) as anonymous:
        for path in ("/v1/records", "/v1/events", "/metrics"):
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["reason"] == "auth.missing"
            assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = anonymous.get("/v1/records", headers=auth(WRITE_KEY[:-1] + "X"))
        assert (wrong.status_code, wrong.json()["error"]["reason"]) == (401, "auth.invalid")
        basic = anonymous.get("/v1/records", headers={"Authorization": f"Basic {WRITE_KEY}"})
        assert basic.status_code == 401
        reader = anonymous.post(
            "/v1/documents", content=document, headers={**TEXT, **auth(READ_KEY)}
        )
        assert (reader.status_code, reader.json()["error"]["reason"]) == (403, "auth.read_only")
        feed = anonymous.post(
            "/v1/feeds", json={"url": "http://a.example/"}, headers=auth(READ_KEY)
        )
        assert feed.status_code == 403
        assert anonymous.get("/v1/records", headers=auth(READ_KEY)).status_code == 200
        metrics = anonymous.get("/metrics", headers=auth(READ_KEY))
        assert "ingest_up 1" in metrics.text
        assert anonymous.get("/healthz").json() == {"store": "ok", "broker": "ok"}
        assert anonymous.get("/openapi.json").json()["paths"]["/v1/documents"]["post"]
        assert "swagger" in anonymous.get("/docs").text.lower()
    assert WRITE_KEY not in api.output()
    assert READ_KEY not in api.output()


def test_bodies_over_the_cap_are_refused_also_when_chunked(client: httpx.Client) -> None:
    head = b"date 2024-03-05 Big\n\n"
    at_cap = head + b"x" * (CAP - len(head))
    assert client.post("/v1/documents", content=at_cap, headers=TEXT).status_code == 202
    over = client.post("/v1/documents", content=at_cap + b"x", headers=TEXT)
    assert (over.status_code, over.json()["error"]["reason"]) == (413, "body.too_large")

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(CAP // 512 + 2):
            yield b"y" * 512

    chunked = client.post("/v1/documents", content=chunks(), headers=TEXT)
    assert "content-length" not in chunked.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert (chunked.status_code, chunked.json()["error"]["reason"]) == (413, "body.too_large")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "reason"),
    [
        (b'{"title": "T", "published"', "application/json", 400, "body.bad_json"),
        (b"[1, 2]", "application/json", 400, "body.invalid"),
        (
            b'{"title": "T", "published": "2024-02-30", "text": "x"}',
            "application/json",
            400,
            "body.invalid",
        ),
        (
            b'{"title": "A\\nB", "published": "2024-02-03", "text": "x"}',
            "application/json",
            400,
            "body.invalid",
        ),
        (
            b'{"title": "T", "published": "2024-02-03", "text": "x", "extra": 1}',
            "application/json",
            400,
            "body.invalid",
        ),
        (b"date 2024-03-05 T\n\nBody\n", "application/xml", 415, "body.unsupported_type"),
        (b"date 2024-03-05 T\n\nBody\n", "", 415, "body.unsupported_type"),
    ],
)
def test_malformed_bodies_get_a_reason_code(
    client: httpx.Client, content: bytes, content_type: str, status: int, reason: str
) -> None:
    response = client.post("/v1/documents", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]["reason"] == reason
    assert response.json()["error"]["detail"]


def test_bad_queries_get_a_reason_code(client: httpx.Client) -> None:
    for params in ({"limit": "0"}, {"since": "yesterday"}, {"cursor": "bm9wZQ"}, {"kind": "x"}):
        response = client.get("/v1/records", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["reason"] == "query.invalid"
    bad_id = client.get("/v1/events", headers={"Last-Event-ID": "yesterday"})
    assert bad_id.status_code == 400
    for url in ("file:///etc/passwd", "not a url", "http://"):
        assert client.post("/v1/feeds", json={"url": url}).status_code == 400, url
    assert (
        client.post("/v1/documents", params={"source": "/"}, content=b"x", headers=TEXT).status_code
        == 400
    )


def test_records_page_by_cursor_in_the_order_of_records_list(
    redis_url: str, api: ApiProcess, client: httpx.Client, worker_proc: WorkerProcess
) -> None:
    days = ["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-01", "2024-01-03"]
    ids = [post_seed(client, f"Doc {n}", day=day, source="paged") for n, day in enumerate(days)]
    for input_id in ids:
        outcome(client, input_id)
    listed = ingest("records", "list", "--json", url=redis_url)
    expected = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    pages, cursor = [], None
    while True:
        params = {"limit": "2", "source": "paged", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/records", params=params).json()
        pages.append([r["id"] for r in page["records"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for p in pages for i in p] == expected
    assert all(len(p) <= 2 for p in pages)
    window = client.get("/v1/records", params={"since": "2024-01-02", "until": "2024-01-02"})
    assert len(window.json()["records"]) == 3
    assert client.get("/v1/records", params={"kind": "feed"}).json()["records"] == []
    assert len(client.get("/v1/records", params={"kind": "seed"}).json()["records"]) == 5


def test_a_filtered_page_reads_a_bounded_part_of_the_index(
    store: Store, client: httpx.Client
) -> None:
    """A rare reason deep in the index: pages end early with a cursor, never a full scan."""
    [rare] = pipeline.process_batch([message(b"", source="rare.txt")], store, store.settings)
    common = [message(b"no header\n\nbody\n", source=f"{n}.txt") for n in range(SCAN_BUDGET + 500)]
    pipeline.process_batch(common, store, store.settings)
    pages, found, cursor = 0, [], None
    while True:
        params = {
            "reason": str(rare.reason),
            "limit": "5",
            **({"cursor": cursor} if cursor else {}),
        }
        page = client.get("/v1/rejections", params=params).json()
        pages += 1
        found += [r["input_id"] for r in page["rejections"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert found == [rare.input_id]
    assert pages == 2  # the first page read its budget and found nothing
    every = client.get("/v1/rejections", params={"limit": "1000"}).json()
    assert len(every["rejections"]) == 1000  # unfiltered pages are full


def test_the_rate_limit_answers_429_with_retry_after(redis_url: str) -> None:
    api = ApiProcess(redis_url, INGEST_API_RATE="0.2", INGEST_API_BURST="3").start()
    try:
        with httpx.Client(base_url=api.base, headers=auth(READ_KEY), timeout=30) as c:
            statuses = [c.get("/v1/records").status_code for _ in range(4)]
            limited = c.get("/v1/records")
            other = c.get("/v1/records", headers=auth(WRITE_KEY))
    finally:
        assert api.stop() == 0
    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert limited.json()["error"]["reason"] == "rate.limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 5
    assert other.status_code == 200  # each key has its own bucket


def test_without_keys_it_refuses_any_address_but_loopback(redis_url: str) -> None:
    done = ingest("serve", "--host", "0.0.0.0", "--port", "1", url=redis_url, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "INGEST_API_KEYS" in lines[0]
    weak = ingest("serve", url=redis_url, INGEST_API_KEYS="short", timeout=60)
    assert weak.returncode == 2
    assert "API key 1" in weak.stderr
    assert "short" not in weak.stderr
    missing = ingest("serve", url=redis_url, INGEST_API_KEYS_FILE="/nonexistent/keys")
    assert missing.returncode == 2
    assert "INGEST_API_KEYS_FILE" in missing.stderr

    local = ApiProcess(redis_url, "--host", "127.0.0.1", INGEST_API_KEYS="").start()
    try:
        assert httpx.get(f"{local.base}/v1/records", timeout=30).status_code == 200
    finally:
        assert local.stop() == 0


def test_without_keys_other_sites_and_rebound_hosts_are_refused(redis_url: str) -> None:
    local = ApiProcess(redis_url, "--host", "127.0.0.1", INGEST_API_KEYS="").start()
    own = f"http://localhost:{local.port}"
    try:
        with httpx.Client(base_url=local.base, timeout=30) as c:
            cross = c.post(
                "/v1/documents",
                content=seed_bytes("Cross-site", "A forged post."),
                headers={**TEXT, "Origin": "http://evil.example"},
            )
            rebound = c.get("/v1/records", headers={"Host": "rebind.evil.example"})
            rebound_port = c.get("/v1/records", headers={"Host": f"evil.example:{local.port}"})
            null_origin = c.get("/v1/records", headers={"Origin": "null"})
            other_port = c.get("/v1/records", headers={"Origin": "http://127.0.0.1:1"})
            allowed = [
                c.get("/v1/records", headers={"Host": host}).status_code
                for host in ("localhost", f"127.0.0.2:{local.port}", f"[::1]:{local.port}")
            ]
            same = c.post("/v1/feeds", json={"url": "http://a.example/"}, headers={"Origin": own})
    finally:
        assert local.stop() == 0
    assert (cross.status_code, cross.json()["error"]["reason"]) == (403, "origin.refused")
    for refused in (rebound, rebound_port):
        assert (refused.status_code, refused.json()["error"]["reason"]) == (403, "host.refused")
    assert [null_origin.status_code, other_port.status_code] == [403, 403]
    assert allowed == [200, 200, 200]
    assert same.status_code == 202, same.text


def test_keys_come_from_a_file_too(redis_url: str, tmp_path: object) -> None:
    from pathlib import Path

    keys = Path(str(tmp_path)) / "keys"
    keys.write_text(f"# readers\nfile-read-key-0123456789:read\n\n{WRITE_KEY}\n")
    api = ApiProcess(redis_url, INGEST_API_KEYS="", INGEST_API_KEYS_FILE=str(keys)).start()
    try:
        with httpx.Client(base_url=api.base, timeout=30) as c:
            assert c.get("/v1/records", headers=auth("file-read-key-0123456789")).status_code == 200
            post = c.post(
                "/v1/feeds",
                json={"url": "http://a.example/"},
                headers=auth("file-read-key-0123456789"),
            )
            assert post.status_code == 403
            assert c.get("/v1/records", headers=auth(READ_KEY)).status_code == 401
    finally:
        assert api.stop() == 0


def test_event_ids_past_64_bits_are_refused_and_streams_are_capped(redis_url: str) -> None:
    api = ApiProcess(redis_url, INGEST_API_MAX_STREAMS="2").start()
    try:
        with httpx.Client(base_url=api.base, headers=auth(READ_KEY), timeout=30) as c:
            for bad in ("99999999999999999999-0", "1-18446744073709551616"):
                refused = c.get("/v1/events", headers={"Last-Event-ID": bad})
                assert refused.status_code == 400, refused.text
                assert refused.json()["error"]["reason"] == "query.invalid"
            with EventReader(api, auth(READ_KEY)), EventReader(api, auth(READ_KEY)):
                full = c.get("/v1/events")
                assert (full.status_code, full.json()["error"]["reason"]) == (503, "streams.full")
                assert full.headers["retry-after"] == "5"

            def reopens() -> bool:
                with c.stream("GET", "/v1/events") as again:
                    return again.status_code == 200

            wait_until(reopens, timeout=10, what="a closed stream's slot given back")
    finally:
        assert api.stop() == 0
    assert "Traceback" not in api.output()


def closed_after(sock: socket.socket, drip: bytes = b"", limit: float = 15) -> float:
    """Seconds until the server closes ``sock``, sending ``drip`` a byte every 0.2 s."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < limit:
        if drip:
            with contextlib.suppress(OSError):
                sock.send(drip[:1])
            drip = drip[1:] or b"x"
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    return math.inf


def test_slow_clients_are_cut_off(redis_url: str) -> None:
    api = ApiProcess(redis_url, INGEST_API_READ_TIMEOUT="1").start()
    address = ("127.0.0.1", api.port)
    try:
        with socket.create_connection(address) as silent:
            assert closed_after(silent) < 5  # never sends a byte
        with socket.create_connection(address) as dripping:
            dripping.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert closed_after(dripping, b"X-Slow: " + b"y" * 200) < 5  # headers never end
        with socket.create_connection(address) as half:
            half.sendall(
                b"POST /v1/feeds HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {WRITE_KEY}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            half.settimeout(10)
            answer = b""
            while chunk := half.recv(4096):  # headers and body may come apart
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"body.timeout" in answer
        with httpx.Client(base_url=api.base, headers=auth(READ_KEY), timeout=30) as c:
            assert c.get("/v1/records").status_code == 200
            time.sleep(0.5)  # a kept-alive connection, idle for less than its limit
            assert c.get("/v1/records").status_code == 200
    finally:
        assert api.stop() == 0


def test_a_stop_ends_open_event_streams_at_once(redis_url: str) -> None:
    api = ApiProcess(redis_url).start()  # heartbeats every 0.5 s
    with EventReader(api, auth(READ_KEY)) as stream:
        wait_until(lambda: "keep-alive" in stream.comments, timeout=10, what="a heartbeat")
        started = time.monotonic()
        assert api.stop() == 0
        assert stream.ended.wait(5)
    assert time.monotonic() - started < 4  # not the 5 s grace: the stream ended on its own


def test_a_store_that_does_not_answer_gives_503_with_retry_after(redis_url: str) -> None:
    gone = f"redis://127.0.0.1:{free_port()}/0"
    api = ApiProcess(redis_url, INGEST_REDIS_URL=gone)
    api.answers = lambda: api.alive() and httpx_answers(api.base)  # type: ignore[method-assign]
    api.start()
    try:
        with httpx.Client(base_url=api.base, headers=auth(READ_KEY), timeout=60) as c:
            health = c.get("/healthz")
            records = c.get("/v1/records")
    finally:
        assert api.stop() == 0
    assert health.status_code == 503
    assert health.json()["store"] == "unavailable"
    assert (records.status_code, records.json()["error"]["reason"]) == (503, "store.unavailable")
    assert records.headers["retry-after"] == "5"


def httpx_answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/openapi.json", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
