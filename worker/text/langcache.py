"""The language model's tables, kept uncompressed in the user's cache folder.

py3langid ships its model xz-compressed (4.6 MB holding 68 MB of tables). Loading it costs
0.7 to 1 s, and the trie depths built from it (:mod:`worker.text.langmodel`) 0.1 to 0.25 s
more, in every process that detects a language: most of the start of ``ingest run``'s
worker. The first load writes the restricted tables (:class:`~worker.text.langmodel.Model`,
about 53 MB) as ``.npy`` files to ``<cache folder>/langmodel-<key>/``; later loads map them
(``numpy.load(mmap_mode="r")``) in a few milliseconds, and the processes of one machine
share their pages.

The key names everything the tables come from: py3langid's version, its model file's size
and modification time, the languages kept and :data:`FORMAT`. A folder that fails a check
(the arrays' types and shapes, every index in range, and the check sentence's answer equal
to the one py3langid gave when the folder was written) is ignored and written again. With
no cache folder, or one that cannot be written, the model loads from py3langid as before;
the folder may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from worker.text.langmodel import CHECK_TEXT, Model, Walker

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the files or their meaning change
ARRAYS: dict[str, tuple[Any, int]] = {  # name: (dtype, dimensions)
    "nextmove": (np.uint32, 1),
    "rowbase": (np.intp, 1),
    "depth": (np.int8, 1),
    "output": (np.int64, 1),
    "ptc": (np.float32, 2),
    "pc": (np.float32, 1),
}
META = "meta.json"
TOLERANCE = 1e-5


def cached(
    root: Path, languages: Sequence[str], build: Callable[[], Model | Walker]
) -> Model | Walker:
    """The model from ``root``'s folder for these tables, else ``build()`` (then written there)."""
    folder = root / f"langmodel-{key(languages)}"
    found = load(folder)
    if found is not None:
        return found
    model = build()
    if isinstance(model, Model):  # py3langid's own walk has no tables to keep
        save(model, folder)
    return model


def key(languages: Sequence[str]) -> str:
    """What the tables come from, hashed: another py3langid or language list, another key."""
    import py3langid  # type: ignore[import-untyped]
    from py3langid.langid import MODEL_DIR, MODEL_FILE  # type: ignore[import-untyped]

    source = Path(MODEL_DIR) / MODEL_FILE
    try:
        stat = source.stat()
        made = [stat.st_size, stat.st_mtime_ns]
    except OSError:
        made = []
    parts = [FORMAT, str(getattr(py3langid, "__version__", "")), made, list(languages)]
    return hashlib.blake2b(orjson.dumps(parts), digest_size=8).hexdigest()


def load(folder: Path) -> Model | None:
    """The model kept in ``folder``; None when it is missing, damaged or not this model's."""
    try:
        meta = orjson.loads((folder / META).read_bytes())
        arrays = {
            name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r")) for name in ARRAYS
        }
        model = Model(
            classes=tuple(str(c) for c in meta["classes"]),
            aliases=tuple((int(a), int(b)) for a, b in meta["aliases"]),
            nextmove=arrays["nextmove"],
            rowbase=arrays["rowbase"],
            depth=arrays["depth"],
            output=arrays["output"],
            ptc=arrays["ptc"],
            pc=arrays["pc"],
        )
        check = (str(meta["check"][0]), float(meta["check"][1]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        log.info("language model cache %s unusable (%s): loading py3langid's", folder, e)
        return None
    problem = fault(model, check)
    if problem:
        log.info("language model cache %s unusable (%s): loading py3langid's", folder, problem)
        return None
    return model


def fault(model: Model, check: tuple[str, float]) -> str:
    """What is wrong with tables read from a cache folder, or ``""``."""
    for name, (dtype, dims) in ARRAYS.items():
        array = getattr(model, name)
        if array.dtype != np.dtype(dtype) or array.ndim != dims or array.size == 0:
            return f"{name}: {array.dtype} of {array.ndim} dimensions"
    states, (rows, languages) = model.rowbase.size, model.ptc.shape
    if model.depth.size != states or model.output.size != states:
        return "depth or output is not one per state"
    if languages != len(model.classes) or model.pc.size != languages:
        return "not one column per language"
    if any(not 0 <= i < languages for pair in model.aliases for i in pair):
        return "an alias out of range"
    if model.rowbase.min() < 0 or model.rowbase.max() + 256 > model.nextmove.size:
        return "a transition row out of range"
    if int(model.nextmove.max()) >= states:
        return "a transition out of range"
    if model.output.min() < -1 or model.output.max() >= rows:
        return "an output row out of range"
    try:
        found = model.classify(CHECK_TEXT)
    except (IndexError, ValueError) as e:
        return f"the check sentence: {e}"
    if found[0] != check[0] or abs(found[1] - check[1]) > TOLERANCE:
        return f"the check sentence gives {found}, py3langid gave {check}"
    return ""


def save(model: Model, folder: Path) -> None:
    """Write the model's tables to ``folder`` (whole, or not at all); never raises OSError."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as e:
        log.info("language model not cached in %s: %s", folder.parent, e)
        return
    try:
        for name in ARRAYS:
            np.save(work / f"{name}.npy", getattr(model, name), allow_pickle=False)
        meta = {
            "classes": model.classes,
            "aliases": model.aliases,
            "check": model.classify(CHECK_TEXT),
        }
        (work / META).write_bytes(orjson.dumps(meta))
        work.chmod(0o755)  # readable by the users of an image that built it
        with contextlib.suppress(OSError):  # a folder already there (another process's) stays
            os.rename(work, folder)
    except OSError as e:
        log.info("language model not cached in %s: %s", folder, e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
