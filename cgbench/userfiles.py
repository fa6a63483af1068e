"""Reading files that users give cgbench, within limits, with errors that name the file.

Every reader of a user's file (predictions, submissions, recipe files, labelling results, importer
inputs, manifests) goes through these functions, so that each kind of bad file ends in an
:class:`~cgbench.errors.InvalidFileError` (or a ``FileNotFoundError`` / ``IsADirectoryError``)
that says what is wrong, never in an exhausted memory, a ``RecursionError`` or a codec error:

- a file larger than its cap is refused before it is read whole (:func:`read_bytes`);
- a gzip stream is inflated in chunks and refused as soon as it passes its cap, so a small file
  that would inflate to gigabytes costs only the cap in memory (:func:`gunzip`);
- text must be UTF-8; UTF-16 (by its byte-order mark) and binary files (NUL bytes) are named as
  such (:func:`decode_text`);
- JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused before it is parsed: the parser and
  every function that walks the result recurse once per level (:func:`parse_json`).

The caps are generous for the files cgbench knows (a submission of the standard protocol is about
13 MB of JSON) and small against memory.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from pathlib import Path

from .errors import InvalidFileError

MAX_FILE_BYTES = 256 * 2**20
MAX_JSON_DEPTH = 64
_INFLATE_CHUNK = 1 << 20
_SCAN_CHUNK = 16 * 2**20
# A JSON string, escapes included (the "unrolled loop" form: linear, no backtracking).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"


def _size_text(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def check_file(path: Path, what: str) -> Path:
    """``path`` if it is an existing regular file; a one-line error naming it otherwise."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected {what}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; expected {what}")
    return path


def read_bytes(path: Path, what: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the file ``path`` (described as ``what`` in errors), refused beyond ``limit`` bytes."""
    path = check_file(path, what)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidFileError(f"{path} is larger than {_size_text(limit)}, the limit for {what}")
    return data


def gunzip(data: bytes, where: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """Inflate gzip ``data`` (one or more members) to at most ``limit`` bytes, chunk by chunk."""
    out = bytearray()
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=31)
            while not inflater.eof:
                out += inflater.decompress(pending, _INFLATE_CHUNK)
                if len(out) > limit:
                    raise InvalidFileError(f"{where} inflates to more than {_size_text(limit)}, the limit for this file")
                pending = inflater.unconsumed_tail
                if not pending and not inflater.eof:
                    raise InvalidFileError(f"{where}: truncated gzip file (the compressed stream ends early)")
            # gzip allows several members back to back, and writers may pad the file with zeros.
            pending = inflater.unused_data.lstrip(b"\0")
    except zlib.error as err:
        raise InvalidFileError(f"{where}: corrupted or not a gzip file ({err})") from None
    return bytes(out)


def decode_text(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text (a UTF-8 byte-order mark is dropped); UTF-16 and binary data are refused."""
    if data.startswith(_UTF16_BOMS):
        raise InvalidFileError(f"{where} is UTF-16 text; save it as UTF-8")
    if b"\0" in data:
        raise InvalidFileError(f"{where} is binary (it holds NUL bytes), not UTF-8 text")
    try:
        return data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidFileError(f"{where} is not UTF-8 text (invalid byte at offset {err.start})") from None


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    import numpy as np

    unquoted = _JSON_STRING.sub(b"", data)
    depth, deepest = 0, 0
    for start in range(0, len(unquoted), _SCAN_CHUNK):
        codes = np.frombuffer(unquoted, np.uint8, count=min(_SCAN_CHUNK, len(unquoted) - start), offset=start)
        steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int32)
                 - np.isin(codes, (ord("]"), ord("}"))).astype(np.int32))
        levels = depth + np.cumsum(steps, dtype=np.int64)
        if len(levels):
            deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def parse_json(data: bytes | str, where: str, object_pairs_hook: Callable | None = None,
               max_depth: int = MAX_JSON_DEPTH):
    """The JSON value of ``data``; :class:`InvalidFileError` naming ``where`` if it is not JSON or nests too deep."""
    if isinstance(data, bytes):
        text, depth = decode_text(data, where), json_depth(data)
    else:
        text, depth = data, json_depth(data.encode("utf-8", "surrogatepass"))
    if depth > max_depth:
        raise InvalidFileError(f"{where}: JSON nested {depth} levels deep; at most {max_depth} are accepted")
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as err:
        raise InvalidFileError(f"{where}: not valid JSON (truncated or malformed): {err.msg} at line {err.lineno} "
                               f"column {err.colno}") from None


def read_json(path: Path, what: str, limit: int = MAX_FILE_BYTES, object_pairs_hook: Callable | None = None):
    """The JSON value in the file ``path``, read within ``limit`` bytes and :data:`MAX_JSON_DEPTH` levels."""
    return parse_json(read_bytes(path, what, limit), str(path), object_pairs_hook)


def read_text(path: Path, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the file ``path``, read within ``limit`` bytes."""
    return decode_text(read_bytes(path, what, limit), str(path))
