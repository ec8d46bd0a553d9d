"""A transactional results store that knows when it is damaged: one SQLite row per cell.

The benchmark commits every finished cell in its own transaction before the next one
starts, so a run killed at any moment (SIGKILL included) loses at most the cell in
flight, and the same command resumes from the store.

What is reused
--------------
A cell is keyed by its settings (:data:`KEY`); the table ``cells`` holds one *current*
row per key with the cell's :func:`~denoisebench.store.fingerprint.cell_fingerprint`.  A
planned cell is, by :meth:`Store.classify`, ``reusable`` (same key, same fingerprint,
a valid row), ``stale`` (the fingerprint differs: code or inputs changed), ``invalid``
(the row fails :func:`row_problem` or its checksum) or ``missing``.  Recomputing a
stale or invalid cell moves the old row to the table ``history`` in the same
transaction as the new row is written; history is never shown as current.

What is refused
---------------
Opening checks the file before anything is computed, and raises :class:`StoreError`
(one line naming the file and what to do) for a directory or a non-SQLite file at the
store path, a damaged file (its size is not its page count, or ``PRAGMA
integrity_check`` fails), a SQLite file of another application (``application_id``) or
another schema, a store of an older denoisebench (schema 2, no fingerprints), and a
store that cannot be written (a write transaction is opened and rolled back).  A file
is never adopted or rewritten.  SQLite has no page checksums, so a flipped byte inside
a value is caught by the per-row checksum, not by the integrity check.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from urllib.parse import quote

from ._file import _ALL, _HISTORY_META, _TABLES, _TIMEOUT, APPLICATION_ID, COLUMNS, KEY, SCHEMA_VERSION, STORE_NAME, StoreError, _check_path, _damage, _identify, _move_aside, _now, _refusal, _translated, store_path
from ._rows import _checksum, _sql_value, row_problem

__all__ = ["APPLICATION_ID", "COLUMNS", "INVALID", "KEY", "MISSING", "REUSABLE", "SCHEMA_VERSION", "STALE",
           "STORE_NAME", "Store", "StoreError", "row_problem", "store_path"]

#: Outcomes of :meth:`Store.classify`.
REUSABLE, STALE, INVALID, MISSING = "reusable", "stale", "invalid", "missing"
_BOOL_COLUMNS = ("bound",)




def _from_sql(values, columns=_ALL):
    """A row as SQLite gives it back (``bound`` still 0/1, as the checksum covers it)."""
    return dict(zip(columns, values))


def _problem(raw):
    """Why a row read back (with its fingerprint and checksum) is not valid, or None."""
    problem = row_problem(raw)
    if problem is None and raw.get("bound") not in (0, 1):
        problem = f"bound {raw.get('bound')!r} is not 0 or 1"
    if problem is None and not (isinstance(raw.get("fingerprint"), str) and raw["fingerprint"]):
        problem = "no fingerprint"
    if problem is None and raw.get("checksum") != _checksum(raw):
        problem = "checksum mismatch (edited or damaged)"
    return problem


def _public(raw, extra=("fingerprint",)):
    """The row dict callers see: :data:`COLUMNS` and ``extra``, ``bound`` as a bool."""
    row = {c: raw[c] for c in (*COLUMNS, *extra)}
    for c in _BOOL_COLUMNS:
        row[c] = bool(row[c]) if row[c] in (0, 1) else row[c]
    return row


# -- the store ---------------------------------------------------------------------------------
class Store:
    """The SQLite results store of one output directory.

    Parameters
    ----------
    directory : path
        Output directory; created if missing (unless ``create=False``).
    create : bool
        When False, a missing store raises ``FileNotFoundError``.
    fresh : bool
        Ignore the existing store: a store of any denoisebench version, or a damaged
        file, is renamed to ``results.sqlite.old-<UTC time>`` (never deleted; see
        :attr:`moved_to`) and a new one is started.  Another application's SQLite file
        is refused, never moved.  A run still writing the old store keeps writing it.
    readonly : bool
        Open for reading only (no write check; :meth:`put` fails).

    Raises
    ------
    StoreError
        The path is a directory or a file, the store is damaged, foreign, of another
        schema, or cannot be written; one line naming the file and what to do.

    Examples
    --------
    >>> with Store("reports/latest") as store:                  # doctest: +SKIP
    ...     status = store.classify({cell.key(): fp})           # reusable/stale/invalid/missing
    ...     store.put(row, fp)                                   # one committed transaction
    ...     rows = store.rows()                                  # valid current rows only
    """

    def __init__(self, directory, create=True, fresh=False, readonly=False):
        self.directory = os.fspath(directory)
        self.path = store_path(directory)
        self.readonly = bool(readonly)
        self.moved_to = _move_aside(self.path) if fresh and not readonly else None
        _check_path(self.path, self.directory, create and not readonly)
        self._conn = None
        with _translated(self.path):
            if readonly:
                conn = sqlite3.connect(f"file:{quote(os.path.abspath(self.path))}?mode=ro", uri=True,
                                       timeout=_TIMEOUT, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
            try:
                self._open(conn)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    def _open(self, conn):
        """Identify and check the file inside one transaction (a write one unless read-only),
        so two processes creating the same store never both create it."""
        conn.execute("BEGIN" if self.readonly else "BEGIN IMMEDIATE")
        try:
            kind, detail = _identify(conn)
            if kind == "new" and self.readonly:
                raise FileNotFoundError(f"no results in {self.path!r}; run 'denoisebench run --out DIR' first")
            if kind == "new":
                for _, sql in _TABLES.values():
                    conn.execute(sql)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
                return
            if kind != "ours":
                raise _refusal(self.path, kind, detail)
            damage = _damage(conn, self.path)
            if damage:
                raise StoreError(f"{self.path} is damaged ({damage}): move it away or rerun with --fresh")
            if not self.readonly:  # a real write (the journal is created), rolled back below
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def _write(self):
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error), sqlite errors as StoreError."""
        with _translated(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _raw(self, where="", params=()):
        with _translated(self.path):
            cur = self._conn.execute(f"SELECT rowid, {', '.join(_ALL)} FROM cells {where} ORDER BY rowid", params)
            return [(r[0], _from_sql(r[1:])) for r in cur.fetchall()]

    # -- writing ----------------------------------------------------------------------------
    def put(self, row, fingerprint=None):
        """Commit one finished cell in its own transaction; return what happened.

        Parameters
        ----------
        row : dict
            The cell's row (the columns of :data:`COLUMNS`); it must pass :func:`row_problem`.
        fingerprint : str
            The cell's :func:`~denoisebench.store.fingerprint.cell_fingerprint` (default:
            ``row['fingerprint']``).

        Returns
        -------
        str
            'inserted' (a new key); 'kept' (a valid row with the same fingerprint is already
            current: the first result wins, so racing runs never overwrite each other);
            'replaced' (the current row had another fingerprint or was invalid: it moved to
            the history in this transaction).

        Raises
        ------
        ValueError
            An invalid row (e.g. a NaN MSE) or no fingerprint: never stored.
        StoreError
            The store cannot be written.
        """
        fingerprint = row.get("fingerprint") if fingerprint is None else fingerprint
        if not isinstance(fingerprint, str) or not fingerprint:
            raise ValueError(f"Store.put needs the cell's fingerprint (a non-empty str), got {fingerprint!r}")
        missing = [c for c in COLUMNS if c not in row and c in (*KEY, "status", "bound")]
        if missing:
            raise ValueError(f"store row lacks {', '.join(missing)}")
        values = {c: _sql_value(c, row.get(c)) for c in COLUMNS}
        values["fingerprint"] = fingerprint
        label = " | ".join(str(values[c]) for c in ("dataset", "denoiser", "sigma"))
        problem = row_problem(values)
        if problem:
            raise ValueError(f"refusing to store an invalid result for {label}: {problem}")
        values["checksum"] = _checksum(values)
        key = tuple(values[c] for c in KEY)
        where = " AND ".join(f"{c} = ?" for c in KEY)
        with self._write() as conn:
            old = conn.execute(f"SELECT {', '.join(_ALL)} FROM cells WHERE {where}", key).fetchone()
            if old is None:
                conn.execute(f"INSERT INTO cells ({', '.join(_ALL)}) VALUES ({', '.join('?' * len(_ALL))})",
                             [values[c] for c in _ALL])
                return "inserted"
            old = _from_sql(old)
            problem = _problem(old)
            if problem is None and old["fingerprint"] == fingerprint:
                return "kept"
            _to_history(conn, f"invalid: {problem}" if problem else "fingerprint changed", where, key)
            conn.execute(f"UPDATE cells SET {', '.join(f'{c} = ?' for c in _ALL)} WHERE {where}",
                         [values[c] for c in _ALL] + list(key))
            return "replaced"

    def retire_invalid(self):
        """Move every invalid current row to the history (one transaction); return them as
        ``(row, problem)``.  For rows no planned cell will replace (e.g. a damaged key)."""
        with self._write() as conn:
            cur = conn.execute(f"SELECT rowid, {', '.join(_ALL)} FROM cells")
            bad = [(r[0], _from_sql(r[1:])) for r in cur.fetchall()]
            bad = [(rowid, raw, problem) for rowid, raw in bad if (problem := _problem(raw))]
            for rowid, _, problem in bad:
                _to_history(conn, f"invalid: {problem}", "rowid = ?", (rowid,))
                conn.execute("DELETE FROM cells WHERE rowid = ?", (rowid,))
        return [(_public(raw), problem) for _, raw, problem in bad]

    # -- reading ----------------------------------------------------------------------------
    def classify(self, planned):
        """Classify planned cells against the current rows.

        Parameters
        ----------
        planned : mapping or iterable of (key, fingerprint)
            Keys are tuples in :data:`KEY` order (``Cell.key()``).

        Returns
        -------
        dict
            key → 'reusable' (same fingerprint, valid row), 'stale' (another fingerprint),
            'invalid' (the row fails validation; see :meth:`invalid_rows`) or 'missing'.
        """
        current = {}
        for _, raw in self._raw():
            current[tuple(raw[c] for c in KEY)] = (raw["fingerprint"], _problem(raw))
        out = {}
        for key, fingerprint in dict(planned).items():
            key = tuple(_sql_value(c, v) for c, v in zip(KEY, key))
            if key not in current:
                out[key] = MISSING
            else:
                stored, problem = current[key]
                out[key] = INVALID if problem else (REUSABLE if stored == fingerprint else STALE)
        return out

    def current(self, key):
        """The valid current row of ``key`` (a dict with ``fingerprint``), or None when
        the key is missing or its row is invalid (:meth:`classify` tells which)."""
        key = tuple(_sql_value(c, v) for c, v in zip(KEY, key))
        found = self._raw("WHERE " + " AND ".join(f"{c} = ?" for c in KEY), key)
        return _public(found[0][1]) if found and _problem(found[0][1]) is None else None

    def rows(self, include_not_applicable=True):
        """Valid current rows as dicts (with ``fingerprint``), in a stable order: datasets and
        denoisers in the order they were first stored (the grid's order), then by σ and the
        other settings.  Invalid rows are left out: see :meth:`invalid_rows`."""
        records = [(rowid, _public(raw)) for rowid, raw in self._raw() if _problem(raw) is None]
        rows = [row for _, row in records if include_not_applicable or row["status"] == "done"]
        return sorted(rows, key=_order_key(records))

    def invalid_rows(self):
        """Current rows that fail validation, as ``(row, problem)``: to be reported and recomputed."""
        return [(_public(raw), problem) for _, raw in self._raw() if (problem := _problem(raw))]

    def history(self):
        """Rows replaced by a recomputation (oldest first), with ``replaced_at`` and ``replaced_reason``."""
        columns = (*_ALL, *_HISTORY_META)
        with _translated(self.path):
            cur = self._conn.execute(f"SELECT {', '.join(columns)} FROM history ORDER BY rowid")
            return [_public(_from_sql(r, columns), ("fingerprint", *_HISTORY_META)) for r in cur.fetchall()]

    def done_keys(self):
        """Keys (tuples in :data:`KEY` order) of the valid current rows, whatever their fingerprint."""
        return {tuple(raw[c] for c in KEY) for _, raw in self._raw() if _problem(raw) is None}

    def __len__(self):
        """Number of current rows, valid or not."""
        with _translated(self.path):
            return self._conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _to_history(conn, reason, where, params):
    conn.execute(f"INSERT INTO history ({', '.join(_ALL)}, replaced_at, replaced_reason) "
                 f"SELECT {', '.join(_ALL)}, ?, ? FROM cells WHERE {where}", (_now(), reason, *params))


def _order_key(records):
    first = {}
    for rowid, row in records:
        first.setdefault(("dataset", row["dataset"]), rowid)
        first.setdefault(("denoiser", row["denoiser"]), rowid)
    others = [c for c in KEY if c not in ("dataset", "denoiser", "sigma")]

    def key(row):
        return (
            first[("dataset", row["dataset"])],
            first[("denoiser", row["denoiser"])],
            tuple(row[c] for c in others),
            row["sigma"],
        )

    return key
