"""Bytes to text for seed documents: a strict policy that never stores mojibake.

The policy, in order:

1. **Byte order mark.** UTF-32 LE/BE, UTF-8, UTF-16 LE/BE, recognised by their BOM (UTF-32
   before UTF-16: ``FF FE 00 00`` is the UTF-32 LE mark, not UTF-16 LE plus a NUL). The
   BOM is dropped; bytes that do not decode under the marked encoding are
   ``seed.bad_encoding``. UTF-16 and UTF-32 are never guessed without a BOM.
2. **No BOM: binary sniffing.** A NUL byte, or any other C0 control byte than tab, LF,
   VT, FF and CR (or DEL), means the file is not text: ``seed.binary``. One such byte is
   enough; text editors do not write them.
3. **No BOM: UTF-8**, strictly.
4. **No BOM, not UTF-8: a narrow Windows fallback.** Accepted only when every non-ASCII
   byte is one of ``85 91-97 A0`` (… ‘ ’ “ ” • – — and NBSP), as Word writes them into
   "plain text". These bytes mean the same in every Windows code page (1250-1258), and
   no byte sequence of such a file is valid multi-byte UTF-8, so the result cannot be
   mojibake from either side. Accented letters are *not* accepted: ``E9`` is é in
   cp1252, й in cp1251 and ι in cp1253, and guessing wrong stores mojibake. Such files
   are ``seed.bad_encoding``; the detail names the byte and says to save as UTF-8.
   (DOS and classic Mac OS code pages, where these bytes are letters, are not considered.)
5. **Decoded text** must hold no C0 control but tab, LF, VT, FF, CR (``seed.binary``)
   and no C1 control U+0080-U+009F (``seed.bad_encoding``: it is what a Windows file
   decoded as Latin-1 and re-encoded as UTF-8 looks like).
"""

from __future__ import annotations

import codecs
import re
from typing import NoReturn

from worker.core.errors import Reason, RejectedInput

# UTF-32 first: its LE mark starts with the UTF-16 LE mark.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_OTHER_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_CONTROL_BYTE = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_CONTROL_CHAR = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # C0 but whitespace, DEL, C1
_C1_BYTES = re.compile(rb"\xc2[\x80-\x9f]")
_NOT_WINDOWS_PUNCTUATION = re.compile(rb"[^\x00-\x7f\x85\x91-\x97\xa0]")


def decode_text(data: bytes) -> str:
    """Decode a seed document's bytes to text, or raise RejectedInput (binary, bad encoding).

    See the module docstring for the policy. The returned text has no BOM; line endings
    and Unicode normalisation are left to :mod:`worker.text.normalise`.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _checked(_decode(data[len(bom) :], encoding))
    if data.translate(None, _OTHER_BYTES):  # 7x faster than the regex, which only locates it
        _reject_binary(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _windows_punctuation(data, e)
    # C0 controls are ruled out above; C1 controls are encoded as C2 80 to C2 9F, which a
    # bytes search finds 7x faster than the str regex (NBSP, £ and ¥ also start with C2).
    return _checked(text) if _C1_BYTES.search(data) else text


def _reject_binary(data: bytes) -> NoReturn:
    match = _CONTROL_BYTE.search(data)
    assert match is not None  # translate() found one
    raise RejectedInput(Reason.SEED_BINARY, f"control byte {match[0]!r} at offset {match.start()}")


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise RejectedInput(Reason.SEED_BAD_ENCODING, f"not valid {encoding}: {e.reason}") from e


def _windows_punctuation(data: bytes, error: UnicodeDecodeError) -> str:
    """Decode a non-UTF-8 file whose only non-ASCII bytes are shared Windows punctuation."""
    if match := _NOT_WINDOWS_PUNCTUATION.search(data):
        detail = f"not UTF-8 (byte {match[0].hex()} at offset {match.start()}); save it as UTF-8"
        raise RejectedInput(Reason.SEED_BAD_ENCODING, detail) from error
    return data.decode("cp1252")


def _checked(text: str) -> str:
    if match := _CONTROL_CHAR.search(text):
        char = match[0]
        if char < "\x80":
            raise RejectedInput(Reason.SEED_BINARY, f"control character {char!r}")
        raise RejectedInput(Reason.SEED_BAD_ENCODING, f"C1 control {char!r}: mis-encoded text")
    return text
