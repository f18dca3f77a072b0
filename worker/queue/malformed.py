"""Queue messages the worker cannot run: found before Celery unpacks them, kept as rejections.

Celery's consumer trusts a message's shape. A ``process_batch`` message whose body is not
``[args, kwargs, embed]`` (``{"a": 1}``, ``null``, raw ``application/data`` bytes) raises
inside the worker's main process, the worker exits, and the message is restored for the
next worker to die on. kombu's Redis transport does the same with a list entry that is not
JSON or not a kombu envelope. So every message is checked first, at both levels:

- :func:`envelope_problem`: the kombu envelope of a Redis list entry
  (:mod:`worker.queue.transport`);
- :func:`message_problem`: the Celery task message, for every broker
  (:mod:`worker.queue.intake`).

A message that fails is taken off the queue and stored as an ``input.malformed_message``
rejection, counted as one input, with its raw bytes (the first ``MAX_KEPT``) kept as the
rejection's payload. Identical messages are one rejection (the input id is a hash of the
bytes). The queue behind it moves on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from worker.core.errors import Reason
from worker.core.models import InputKind, Refused, Rejection
from worker.core.protocol import TASK_POLL_FEEDS, TASK_PROCESS_BATCH

MAX_KEPT = 64 * 1024
SOURCE = "<malformed queue message>"
JSON = "application/json"
# Each task's parameters, by name, as the producer and beat send them.
TASK_PARAMS: dict[str, tuple[str, ...]] = {TASK_PROCESS_BATCH: ("messages",), TASK_POLL_FEEDS: ()}
OPTIONAL_STR_HEADERS = ("root_id", "parent_id", "group", "shadow", "argsrepr", "kwargsrepr")


def refused(raw: bytes, problem: str) -> Refused:
    """The rejection of a malformed message, with its first MAX_KEPT bytes as payload."""
    kept = raw[:MAX_KEPT]
    input_id = "malformed-" + hashlib.sha256(raw).hexdigest()[:24]
    rejection = Rejection(
        source=SOURCE,
        reason=Reason.INPUT_MALFORMED_MESSAGE,
        detail=f"malformed queue message: {problem} ({len(raw)} bytes, {len(kept)} kept)"[:2000],
        rejected_at=datetime.now(UTC),
        input_id=input_id,
        kind=InputKind.SEED,
    )
    return Refused(input_id, rejection, kept)


def envelope_problem(payload: object) -> str | None:
    """What keeps kombu from reading a Redis list entry's envelope, or None when it can."""
    if not isinstance(payload, dict):
        return f"the entry is JSON {type(payload).__name__}, not a kombu envelope"
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        return "the envelope has no properties"
    if not isinstance(properties.get("delivery_tag"), str):
        return "the envelope has no delivery tag"
    if not isinstance(properties.get("delivery_info", {}), dict):
        return "the envelope's delivery_info is not an object"
    for name in ("content-type", "content-encoding"):
        if not isinstance(payload.get(name, ""), str):
            return f"the envelope's {name} is not a string"
    if not isinstance(payload.get("headers") or {}, dict):
        return "the envelope's headers are not an object"
    return _body_problem(payload.get("body"), properties.get("body_encoding"))


def _body_problem(body: object, encoding: object) -> str | None:
    if body is None or body == "":
        return None
    if not isinstance(body, str):
        return "the envelope's body is not a string"
    if encoding is None:
        return None
    if encoding != "base64":
        return f"unknown body encoding {str(encoding)[:40]!r}"
    try:
        base64.b64decode(body.encode(), validate=True)
    except (binascii.Error, ValueError):
        return "the envelope's body is not valid base64"
    return None


def message_problem(message: Any) -> str | None:
    """What keeps Celery from running a task message safely, or None when nothing does."""
    headers = message.headers
    problem = header_problem(headers)
    if problem is not None:
        return problem
    for name in ("properties", "delivery_info"):
        if not isinstance(getattr(message, name) or {}, dict):
            return f"its {name} are not an object"
    if message.content_type != JSON:
        return f"content type {str(message.content_type)[:60]!r} (only {JSON} is accepted)"
    try:
        body = message.decode()
    except Exception as e:  # any decoding fault of kombu's: the message is what is wrong
        return f"its body is not readable JSON: {type(e).__name__}"
    return body_problem(headers["task"], body)


def header_problem(headers: object) -> str | None:
    """What is wrong with a task message's headers (Celery protocol 2), or None."""
    if not isinstance(headers, Mapping):
        return "it has no headers"
    for name in ("task", "id"):
        value = headers.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= 200:
            return f"its {name!r} header is not a short string"
    if headers["task"] not in TASK_PARAMS:
        return f"unknown task {headers['task'][:100]!r}"
    for name in OPTIONAL_STR_HEADERS:
        if not isinstance(headers.get(name) or "", str):
            return f"its {name!r} header is not a string"
    retries = headers.get("retries") or 0
    if type(retries) is not int or retries < 0:
        return "its 'retries' header is not a count"
    return _limits_problem(headers.get("timelimit")) or _dates_problem(headers)


def _limits_problem(limits: object) -> str | None:
    if limits is None:
        return None
    if not isinstance(limits, list | tuple) or len(limits) != 2:
        return "its 'timelimit' header is not [soft, hard]"
    if not all(_is_limit(v) for v in limits):
        return "its 'timelimit' header is not [soft, hard]"
    return None


def _is_limit(value: object) -> bool:
    return value is None or (type(value) in (int, float) and value > 0)  # type: ignore[operator]


def _dates_problem(headers: Mapping[str, Any]) -> str | None:
    for name in ("eta", "expires"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return f"its {name!r} header is not an ISO date"
    return None


def body_problem(task: str, body: object) -> str | None:
    """What is wrong with a decoded task body ``[args, kwargs, embed]``, or None."""
    if not isinstance(body, list | tuple) or len(body) != 3:
        return "its body is not [args, kwargs, embed]"
    args, kwargs, embed = body
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        return "its body is not [args, kwargs, embed]"
    if not isinstance(embed, dict) or any(embed.values()):
        return "it asks for callbacks, chains or chords"
    params = TASK_PARAMS[task]
    if len(args) > len(params) or set(kwargs) != set(params[len(args) :]):
        return f"its arguments do not match {task}({', '.join(params)})"
    return None


def message_bytes(message: Any) -> bytes:
    """A task message as JSON bytes (headers, properties, body in base64), for inspection."""
    body = message.body
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    data = {
        "content-type": message.content_type,
        "content-encoding": message.content_encoding,
        "headers": message.headers,
        "properties": message.properties,
        "body": base64.b64encode(body or b"").decode(),
    }
    try:
        return orjson.dumps(data, default=repr, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits
        return repr(data).encode()
