"""Fingerprints of what a cell's number depends on: its settings, its input files, the code.

A stored cell is reused only when its fingerprint is unchanged (:mod:`denoisebench.store`).
The fingerprint of a cell is the sha256 of a canonical JSON document holding

* the cell's settings (canonical spec strings, σ, n, seed, size, backend, …);
* the sha256 of every file the cell reads (weights, image folders), by content;
* :func:`code_fingerprint`: the package version, the versions of the numerical
  libraries, and a hash of the library's source files.

Design choices
--------------
**Whole library, not per family.**  The code fingerprint hashes every ``.py`` file of
the library part of the package, not only the module of a cell's denoiser: a
per-family hash would miss shared helpers (``_array_api``, ``_fourier``,
``metrics``, ``noise``, the datasets) that change every number.  Correctness
over reuse: editing any library module recomputes every cell.  Only code that cannot
change a stored cell's number is left out (:data:`PRESENTATION`): the commands, the CLI,
the report code, and the experiments and performance measurement that the grid runner
never imports (``tests/test_layout.py`` checks that it does not).

**Files by content and name, not by location.**  An input file counts by its bytes
and its base name (a folder's file names may order its images); the directories
above it do not, so moving an output or weights folder elsewhere recomputes
nothing, while retraining a weight file in place does.

The Python interpreter and the machine (BLAS build, CPU) are not part of the
fingerprint: a cell records what was computed with which code and inputs, not
bit-identity across machines.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import math
import os
from pathlib import Path

__all__ = [
    "PRESENTATION",
    "library_versions",
    "cell_fingerprint",
    "code_fingerprint",
    "file_sha256",
    "files_sha256",
    "object_input_files",
]

#: Paths (relative to the package, POSIX separators) left out of the code fingerprint:
#: presentation code that cannot change a stored number.  A trailing ``/`` names a folder.
PRESENTATION = ("commands/", "cli.py", "__main__.py", "report/", "experiments/", "perf/",
                "sampling/sampler_error.py")

#: Import names of the libraries whose versions enter the code fingerprint of every cell ('absent'
#: when not installed): the numerical stack every denoiser may use.  Libraries only some cells
#: use (a peer such as bm3d or deepinv, cupy for the cupy backend) enter only those cells'
#: fingerprints (:func:`library_versions`, called by the runner), so installing a peer does not
#: invalidate the cells that never touch it.
LIBRARIES = ("numpy", "scipy", "pywt", "skimage", "torch", "array_api_compat")

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the package root: this module lives in store/
_CHUNK = 1 << 20  # bytes read at a time when hashing a file
_FILE_CACHE = {}  # (realpath, dev, inode, size, mtime_ns, ctime_ns) -> hex digest


# -- the code ------------------------------------------------------------------------------
def _excluded(relative, exclude):
    return any(relative.startswith(e) if e.endswith("/") else relative == e for e in exclude)


def _source_digest(root, exclude=PRESENTATION):
    """sha256 (hex) of the ``.py`` files under ``root``, less ``exclude``.

    Each file enters as its relative POSIX path and its bytes, length-prefixed and in
    sorted path order, so renaming, adding or removing a file changes the digest and no
    two different trees share a serialisation.
    """
    root = Path(root)
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py") if p.is_file())
    h = hashlib.sha256()
    for rel in paths:
        if _excluded(rel, exclude):
            continue
        data = (root / rel).read_bytes()
        name = rel.encode()
        h.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _library_versions(modules=LIBRARIES):
    """``{import name: version}`` of ``modules``, without importing any of them."""
    dists = _distributions()
    versions = {}
    for module in modules:
        found = []
        for dist in sorted(set(dists.get(module, ()))):
            try:
                found.append(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                pass
        versions[module] = ",".join(found) or "absent"
    return versions


@functools.cache
def _distributions():
    return importlib.metadata.packages_distributions()


def library_versions(modules):
    """``{import name: 'dist==version' or 'absent'}`` of ``modules`` (a cell's own libraries)."""
    return _library_versions(tuple(modules))


@functools.cache
def code_fingerprint():
    """Short hex fingerprint of the code that computes a cell (cached per process).

    The sha256 of the package version, the versions of the numerical libraries
    (:data:`LIBRARIES`) and :func:`_source_digest` of the package's library sources
    (everything but :data:`PRESENTATION`); the first 16 hex digits.
    """
    from .._version import __version__

    document = {"denoisebench": __version__, "libraries": _library_versions(),
                "sources": _source_digest(_PACKAGE_DIR)}
    return hashlib.sha256(_canonical(document).encode()).hexdigest()[:16]


# -- files -----------------------------------------------------------------------------------
def file_sha256(path):
    """sha256 (hex) of a file's bytes, read in 1 MiB chunks.

    Cached per process by (real path, device, inode, size, mtime, ctime), so a file
    rewritten or replaced is hashed again.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        When ``path`` cannot be read as a file.
    """
    real = os.path.realpath(os.fspath(path))
    st = os.stat(real)
    key = (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    digest = _FILE_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(real, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        digest = _FILE_CACHE[key] = h.hexdigest()
    return digest


def files_sha256(paths):
    """One sha256 (hex) of several files: their base names and contents.

    Files enter sorted by path as ``name`` and :func:`file_sha256`; the directories
    above them do not (moving a folder keeps its fingerprint; renaming a file changes
    it, since names may order a folder's images).
    """
    entries = [[os.path.basename(os.fspath(p)), file_sha256(p)] for p in sorted(os.fspath(p) for p in paths)]
    return hashlib.sha256(_canonical(entries).encode()).hexdigest()


def object_input_files(obj):
    """The files ``obj`` (a dataset or denoiser) reads: its ``input_files()``, else none.

    An object whose result depends on files declares them with a method
    ``input_files()`` returning a list of paths (a weight file, an image folder's files).
    """
    return list(getattr(obj, "input_files", lambda: [])())


# -- cells -----------------------------------------------------------------------------------
def _plain(value):
    """JSON-ready form of numpy scalars and paths; other types are refused."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot fingerprint {value!r} of type {type(value).__name__}")


def _canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_plain)


def cell_fingerprint(key_fields, input_files=(), code=None):
    """sha256 (hex) of a cell's settings, the contents of its input files and the code.

    Parameters
    ----------
    key_fields : dict
        The cell's settings (``dataclasses.asdict(cell)``): str, int, float, bool, None,
        numpy scalars, paths, and lists/dicts of them.  Non-finite floats are refused.
    input_files : iterable of path
        Every file the cell reads (see :func:`object_input_files`); hashed by content
        and base name (:func:`files_sha256`).
    code : str, optional
        The code fingerprint; :func:`code_fingerprint` by default.

    Raises
    ------
    ValueError
        A non-finite float among ``key_fields``.
    TypeError
        A value that has no canonical JSON form.
    """
    bad = [k for k, v in key_fields.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise ValueError(f"cannot fingerprint a cell with non-finite {bad[0]}={key_fields[bad[0]]!r}")
    files = list(input_files)
    document = {
        "settings": dict(key_fields),
        "inputs": files_sha256(files) if files else None,
        "code": code_fingerprint() if code is None else str(code),
    }
    return hashlib.sha256(_canonical(document).encode()).hexdigest()
