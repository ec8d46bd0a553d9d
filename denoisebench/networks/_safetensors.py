"""A bounded safetensors reader and an atomic writer, for :mod:`denoisebench.networks.weights_io`.

The header is parsed here rather than by the ``safetensors`` package so that a file can be judged
from its header alone — the metadata, and every tensor's dtype, shape and byte range — before its
data is read: :func:`read_header` reads at most ``8 + MAX_HEADER_BYTES`` bytes, checks that the
byte ranges tile the data section and that the file is exactly that long; :func:`read_data` then
reads the data section, whose length the caller has approved.  Nothing is ever unpickled.

Writes go to ``.tmp-<pid>-<random>.safetensors`` in the target's folder, then :func:`os.replace`;
the temporary file is removed on every exit path Python sees, and :func:`remove_stale_temps`
removes those of processes that were killed.

References
----------
safetensors format specification, https://github.com/huggingface/safetensors (README, "Format"):
8-byte little-endian header length ``N``, ``N`` bytes of JSON (``{name: {dtype, shape,
data_offsets}}`` plus an optional ``__metadata__`` string map), then the little-endian byte buffer.
"""
from __future__ import annotations

import glob
import json
import math
import os
import re
import sys
import tempfile
import time

import numpy as np

__all__ = ["MAX_HEADER_BYTES", "TORCH_NAMES", "as_tensors", "atomic_write", "read_data", "read_header",
           "remove_stale_temps"]

#: Largest header read (JSON); a real one is ~5 kB, or ~0.6 MB after 10⁴ validations of history.
MAX_HEADER_BYTES = 1 << 20
#: safetensors dtype → numpy dtype (little-endian, as stored).
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U8": "u1", "BOOL": "?"}
#: safetensors dtype → torch dtype name.
TORCH_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
               "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
_TEMP_PREFIX = ".tmp-"
_TEMP = re.compile(r"^\.tmp-(?:(\d+)-)?[^/]*\.safetensors$")
#: When this module was imported: temporary files older than that were left by another process.
_STARTED = time.time()


# -- reading -----------------------------------------------------------------------------
def _unreadable(path, why):
    return ValueError(f"{path}: not a readable safetensors file ({why})")


def read_header(f, path):
    """``(metadata, table, data_length)`` of the open binary file ``f``, every entry checked.

    Reads the 8-byte length and the header only.  Raises ``ValueError`` (one line naming
    ``path``) unless the header is JSON of at most :data:`MAX_HEADER_BYTES`, the metadata maps
    strings to strings, every dtype is known, every shape's byte count equals its range, the ranges
    tile ``[0, data_length)`` and the file holds exactly ``8 + N + data_length`` bytes.
    """
    size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    if len(head) < 8:
        raise _unreadable(path, f"{size} bytes, shorter than the 8-byte header length")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise _unreadable(path, f"header length {n} exceeds {min(MAX_HEADER_BYTES, size - 8)} bytes")
    raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _unreadable(path, f"header is not JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise _unreadable(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _unreadable(path, "__metadata__ must map names to strings")
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _unreadable(path, f"tensor {name!r} has a malformed entry")
        shape, offsets = entry["shape"], entry["data_offsets"]
        if entry["dtype"] not in _DTYPES:
            raise _unreadable(path, f"tensor {name!r} has unsupported dtype {entry['dtype']!r}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_count(d) for d in shape):
            raise _unreadable(path, f"tensor {name!r} has an invalid shape {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
            raise _unreadable(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
        nbytes = math.prod(shape) * np.dtype(_DTYPES[entry["dtype"]]).itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise _unreadable(path, f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape}")
        spans.append(offsets)
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise _unreadable(path, "tensor byte ranges overlap or leave gaps")
        end = stop
    if size != 8 + n + end:
        what = "truncated" if size < 8 + n + end else "trailing bytes"
        raise _unreadable(path, f"{what}: {size} bytes, the header describes {8 + n + end}")
    return metadata, header, end


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def read_data(f, path, length):
    """The next ``length`` bytes of ``f`` (the data section) as a writable ``bytearray``."""
    data = bytearray(length)
    if f.readinto(data) != length:
        raise _unreadable(path, "truncated while reading")
    return data


def as_tensors(table, data):
    """``{name: torch tensor}`` viewing ``data`` (no copy on little-endian machines)."""
    import torch

    tensors = {}
    for name, entry in table.items():
        array = np.frombuffer(data, dtype=_DTYPES[entry["dtype"]], count=math.prod(entry["shape"]),
                              offset=entry["data_offsets"][0])
        if sys.byteorder != "little":
            array = array.astype(array.dtype.newbyteorder("="))
        tensors[name] = torch.from_numpy(array).reshape(entry["shape"])
    return tensors


# -- writing -----------------------------------------------------------------------------
def atomic_write(path, blob):
    """Write ``blob`` to ``path`` through a temporary file in its folder; return ``str(path)``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{_TEMP_PREFIX}{os.getpid()}-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; weight files are data to share (package data)
        os.replace(tmp, path)
    except OSError as exc:  # a disk fault (full disk, file size limit): one line naming the file
        if isinstance(exc, PermissionError):
            raise
        raise OSError(exc.errno, f"cannot write {path} ({exc.strerror or exc})") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return str(path)


def remove_stale_temps(folder):
    """Remove the ``.tmp-*.safetensors`` files in ``folder`` left by killed writers; return their paths.

    A temporary file is stale when it is older than this process's import of this module and the
    process that named it (``.tmp-<pid>-...``; older names carry no pid) is gone; files of live
    writers are never touched.
    """
    removed = []
    for path in glob.glob(os.path.join(glob.escape(os.fspath(folder) or "."), f"{_TEMP_PREFIX}*.safetensors")):
        match = _TEMP.match(os.path.basename(path))
        try:
            if not match or os.path.getmtime(path) >= _STARTED or _alive(match.group(1)):
                continue
            os.remove(path)
            removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


def _alive(pid):
    if pid is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True
