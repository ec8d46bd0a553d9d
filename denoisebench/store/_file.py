"""The store file: its schema, its identity, its damage checks and one-line errors.

Private to :mod:`denoisebench.store` (which re-exports the public names).
"""
from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from datetime import datetime, timezone
from urllib.parse import quote

#: File name of the store inside an output directory.
STORE_NAME = "results.sqlite"

#: ``PRAGMA application_id`` of a denoisebench store: ASCII 'DNB1'.
APPLICATION_ID = 0x444E4231

#: ``PRAGMA user_version`` of the current schema (2: before fingerprints).
SCHEMA_VERSION = 3

#: Columns identifying a cell (its settings); one current row per distinct key.
KEY = ("dataset", "denoiser", "sigma", "n", "seed", "size", "backend", "device", "dtype", "n_train", "sure", "protocol")

#: The key of the schema-2 stores written before fingerprints (recognised, to be moved aside).
_KEY_V2 = ("dataset", "denoiser", "sigma", "n", "seed", "size", "backend", "device", "dtype", "n_train", "sure")

#: Every result column and its SQLite type, in the order of results.csv then the bookkeeping.
COLUMNS = {
    "dataset": "TEXT NOT NULL",
    "denoiser": "TEXT NOT NULL",
    "sigma": "REAL NOT NULL",
    "n": "INTEGER NOT NULL",
    "seed": "INTEGER NOT NULL",
    "size": "TEXT NOT NULL",
    "mse": "REAL",
    "mse_stderr": "REAL",
    "psnr": "REAL",
    "psnr_images": "REAL",  # mean over images of each image's PSNR (the papers' protocol)
    "gain_db": "REAL",
    "optimal_mse": "REAL",
    "optimal_stderr": "REAL",
    "gap_db": "REAL",
    "seconds": "REAL",
    "backend": "TEXT NOT NULL",
    "device": "TEXT NOT NULL",
    "dtype": "TEXT NOT NULL",
    "bound": "INTEGER NOT NULL",
    "n_train": "INTEGER NOT NULL",
    "sure": "INTEGER NOT NULL",  # Hutchinson probes of the SURE estimate; 0: not computed
    "sure_mse": "REAL",
    "sure_stderr": "REAL",
    "protocol": "TEXT NOT NULL",  # '': float images as drawn; '8bit': clean quantised to 8 bits, output clipped
    "status": "TEXT NOT NULL",  # 'done' or 'not_applicable'
    "reason": "TEXT",  # why a cell is not applicable
    "started_at": "TEXT",
    "finished_at": "TEXT",
}

#: Bookkeeping columns of both tables (not part of a row dict but ``fingerprint``).
_META = {"fingerprint": "TEXT NOT NULL", "checksum": "TEXT NOT NULL"}
_HISTORY_META = {"replaced_at": "TEXT NOT NULL", "replaced_reason": "TEXT NOT NULL"}
_ALL = (*COLUMNS, *_META)
_MAGIC = b"SQLite format 3\x00"
_TIMEOUT = 60  # seconds a transaction waits for another process's lock


class StoreError(ValueError):
    """The store cannot be used: one line naming the file and what to do."""

    __module__ = "denoisebench.store"


def store_path(directory):
    """Path of the store file inside ``directory``."""
    return os.path.join(os.fspath(directory), STORE_NAME)


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _table_sql(name, extra, key):
    cols = {**COLUMNS, **_META, **extra}
    body = ",\n  ".join(f"{c} {kind}" for c, kind in cols.items())
    pk = f",\n  PRIMARY KEY ({', '.join(KEY)})" if key else ""
    return f"CREATE TABLE {name} (\n  {body}{pk}\n)"


_TABLES = {"cells": (_ALL, _table_sql("cells", {}, True)),
           "history": ((*_ALL, *_HISTORY_META), _table_sql("history", _HISTORY_META, False))}


# -- opening ---------------------------------------------------------------------------------
def _error(path, exc):
    """One-line :class:`StoreError` for a ``sqlite3`` error on ``path``."""
    msg = str(exc)
    low = f"{getattr(exc, 'sqlite_errorname', '')} {msg}".lower()
    if "readonly" in low or "read-only" in low:
        return StoreError(f"cannot write {path}: read-only (fix its permissions or use another --out)")
    if "locked" in low or "busy" in low:
        return StoreError(f"{path} is locked by another process (waited {_TIMEOUT} s): retry when it has finished")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return StoreError(f"{path} is damaged ({msg}): move it away or rerun with --fresh")
    if any(k in low for k in ("full", "too large", "i/o error", "ioerr")):  # a disk fault, not the user's input:
        return OSError(errno.EIO, f"cannot write {path}: a disk fault ({msg}: disk full, file size limit or "
                                  "I/O error)")  # exit 1 on the command line
    if "unable to open" in low or "cantopen" in low:
        return StoreError(f"cannot open or create {path} ({msg}): check that its directory is writable, "
                          "or use another --out")
    return StoreError(f"{path}: {msg}")


@contextlib.contextmanager
def _translated(path):
    try:
        yield
    except sqlite3.Error as exc:
        raise _error(path, exc) from exc
    except UnicodeDecodeError as exc:  # a flipped byte inside a stored text value
        raise StoreError(f"{path} is damaged (a stored text is not UTF-8: {exc.reason} at byte {exc.start}): "
                         "move it away or rerun with --fresh") from exc


def _identify(conn):
    """``(kind, detail)`` of an open SQLite file: kind 'new', 'ours', 'older', 'newer' or 'foreign'."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    objects = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")]
    detail = f"application_id {app:#x}, user_version {version}, tables: {', '.join(objects) or 'none'}"
    if app == 0 and version == 0 and not objects:
        return "new", detail
    if app == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            return "newer", detail
        if version < SCHEMA_VERSION:
            return "older", detail
        for table, (columns, _) in _TABLES.items():
            found = tuple(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
            if found != columns:
                return "foreign", f"{detail}; table {table} has columns {', '.join(found) or 'none'}"
        return "ours", detail
    if app == 0 and "cells" in objects:
        found = {r[1] for r in conn.execute("PRAGMA table_info(cells)")}
        if set(_KEY_V2) <= found and "fingerprint" not in found:
            return "older", detail
    return "foreign", detail


def _damage(conn, path):
    """Why an open store is damaged, or None: the file size must be its page count, and
    ``PRAGMA integrity_check`` must say 'ok'."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    size = os.path.getsize(path)
    if size != pages * page_size:
        return f"{size} bytes, not {pages} pages of {page_size}: truncated or extended"
    report = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
    return None if report == ["ok"] else "; ".join(report)


def _refusal(path, kind, detail):
    if kind == "older":
        return StoreError(f"{path} was written by an older denoisebench (store schema 2, cells without "
                          "fingerprints): rerun with --fresh (the old file is kept beside it) or use another --out")
    if kind == "newer":
        return StoreError(f"{path} was written by a newer denoisebench ({detail}): upgrade denoisebench, "
                          "rerun with --fresh or use another --out")
    return StoreError(f"{path} is not a denoisebench results store ({detail}): move it away or use another --out")


def _check_path(path, directory, create):
    """Refuse what is not a store file before SQLite sees it (directories, non-SQLite files)."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise StoreError(f"output directory {directory} is a file: use another --out")
    if os.path.isdir(path):
        raise StoreError(f"{path} is a directory, not a results store: move it away or use another --out")
    if not os.path.exists(path):
        if not create:
            raise FileNotFoundError(f"no results store {path!r}; run 'denoisebench run --out DIR' first")
        try:
            os.makedirs(directory or ".", exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create output directory {directory}: {exc.strerror}") from exc
        return
    if not os.path.isfile(path):
        raise StoreError(f"{path} is not a regular file: move it away or use another --out")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    if not head and not create:  # SQLite would silently make an empty file a new store
        raise StoreError(f"{path} is empty (0 bytes), not a results store: remove it, or run "
                         "'denoisebench run --out DIR' to create one")
    if head and head != _MAGIC:
        raise StoreError(f"{path} is not a SQLite database (damaged or another file): move it away or rerun "
                         "with --fresh")


def _kind_of_file(path):
    """What :func:`_move_aside` may do with an existing store file: 'damaged', 'ours', 'new' or 'foreign'."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if not head:
            return "new"
        if head != _MAGIC:
            return "damaged"
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, timeout=_TIMEOUT)
        try:
            kind = _identify(conn)[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return "damaged"
    return "ours" if kind in ("ours", "older", "newer") else kind


def _move_aside(path):
    """``--fresh``: rename a store of ours (any version) or a damaged file to
    ``results.sqlite.old-<UTC time>`` with its journal; return the new name (None if none)."""
    if not os.path.lexists(path) or os.path.isdir(path):
        return None  # a missing store is new; a directory is refused by _check_path
    kind = _kind_of_file(path)
    if kind == "new":
        return None
    if kind == "foreign":
        raise StoreError(f"{path} is not a denoisebench results store; --fresh moves only a denoisebench store "
                         "or a damaged file: move it away yourself or use another --out")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = f"{path}.old-{stamp}"
    try:
        os.rename(path, target)
        for suffix in ("-journal", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.rename(path + suffix, target + suffix)
    except OSError as exc:
        raise StoreError(f"cannot move {path} aside for --fresh: {exc.strerror}") from exc
    return target
