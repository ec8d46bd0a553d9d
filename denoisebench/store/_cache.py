"""A content-addressed, verified on-disk cache of numpy arrays (safe to delete at any time).

An entry is named by the sha256 of its key document (a JSON-able dict: what the array is a
function of, e.g. the sampler's source digest, its parameters, the seed and the index range).
It is two files, ``<hash>.npy`` (read with ``allow_pickle=False``; never pickle) and
``<hash>.json`` (the key document and the sha256 of the array's bytes), each written to a
temporary file and renamed into place, so a reader never sees half a file.  On read the key
document must match and the checksum must agree; anything else (a corrupt, truncated, foreign
or missing file) is a miss: the array is recomputed and the entry rewritten, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

from .fingerprint import _canonical

__all__ = ["CACHE_ENV", "cache_dir", "cached_array", "key_digest"]

#: Environment variable naming the cache folder (default: the user cache dir).
CACHE_ENV = "DENOISEBENCH_CACHE"


def cache_dir():
    """``$DENOISEBENCH_CACHE``, else ``$XDG_CACHE_HOME/denoisebench``, else ``~/.cache/denoisebench``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "denoisebench")


def key_digest(document):
    """sha256 (hex) of the canonical JSON of ``document``."""
    return hashlib.sha256(_canonical(document).encode()).hexdigest()


def _array_sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _atomic_write(path, write):
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(npy, meta, document):
    """The verified array, or ``None`` when the entry is missing, damaged or foreign."""
    try:
        with open(meta, encoding="utf-8") as f:
            info = json.load(f)
        if info.get("key") != json.loads(_canonical(document)):
            return None
        a = np.load(npy, allow_pickle=False)
    except (OSError, ValueError, EOFError, TypeError, AttributeError):
        return None
    if info.get("sha256") != _array_sha(a) or list(a.shape) != info.get("shape") or str(a.dtype) != info.get("dtype"):
        return None
    return a


def cached_array(document, compute, folder=None, namespace="arrays"):
    """``compute()``'s array, read from the cache when a verified entry for ``document`` exists.

    Parameters
    ----------
    document : dict
        JSON-able key: everything the array is a function of.
    compute : callable
        ``() -> ndarray`` (numeric dtype), called on a miss; its result is stored.
    folder : str or None
        Cache folder (default :func:`cache_dir`); entries go under ``folder/namespace``.
    namespace : str
        Sub-folder (one per kind of content, e.g. ``'phi4'``).

    Returns
    -------
    ndarray
        Bit for bit what ``compute()`` returned (a hit returns the stored copy of it).

    Notes
    -----
    A folder that cannot be written is not an error: the array is computed and returned uncached.
    """
    root = os.path.join(folder or cache_dir(), namespace)
    digest = key_digest(document)
    npy, meta = os.path.join(root, digest + ".npy"), os.path.join(root, digest + ".json")
    found = _read(npy, meta, document) if os.path.exists(npy) else None
    if found is not None:
        return found
    a = np.asarray(compute())
    if a.dtype == object:
        raise TypeError("cached arrays must have a numeric dtype")
    info = {"key": json.loads(_canonical(document)), "sha256": _array_sha(a), "shape": list(a.shape),
            "dtype": str(a.dtype)}
    try:
        os.makedirs(root, exist_ok=True)
        _atomic_write(npy, lambda f: np.save(f, a, allow_pickle=False))
        _atomic_write(meta, lambda f: f.write(_canonical(info).encode()))
    except OSError:
        pass
    return a
