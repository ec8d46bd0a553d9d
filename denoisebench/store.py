"""A transactional results store: one SQLite row per finished cell.

The benchmark commits every finished cell in its own transaction before the
next one starts, so a run killed at any moment (SIGKILL included) loses at most
the cell in flight, and the same command resumes from the store.  SQLite's
rollback journal makes each commit atomic and durable.

A cell is keyed by :data:`KEY`; rows are plain dicts with the columns of
:data:`COLUMNS`.
"""
from __future__ import annotations

import os
import sqlite3

__all__ = ["COLUMNS", "KEY", "STORE_NAME", "Store", "store_path"]

#: File name of the store inside an output directory.
STORE_NAME = "results.sqlite"

#: Columns identifying a cell (its settings); one row per distinct key.
KEY = ("dataset", "denoiser", "sigma", "n", "seed", "size", "backend", "device", "dtype", "n_train", "sure")

#: Every stored column and its SQLite type, in the order of results.csv then the bookkeeping.
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
    "status": "TEXT NOT NULL",  # 'done' or 'not_applicable'
    "reason": "TEXT",  # why a cell is not applicable
    "started_at": "TEXT",
    "finished_at": "TEXT",
}

_BOOL_COLUMNS = ("bound",)
_SCHEMA_VERSION = 2


def store_path(directory):
    """Path of the store file inside ``directory``."""
    return os.path.join(os.fspath(directory), STORE_NAME)


def _create_sql():
    cols = ",\n  ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    return f"CREATE TABLE IF NOT EXISTS cells (\n  {cols},\n  PRIMARY KEY ({', '.join(KEY)})\n)"


def _to_sql(row):
    return tuple(int(row[c]) if c in _BOOL_COLUMNS else row.get(c) for c in COLUMNS)


def _from_sql(values):
    row = dict(zip(COLUMNS, values))
    for c in _BOOL_COLUMNS:
        row[c] = bool(row[c])
    return row


class Store:
    """The SQLite results store of one output directory.

    Parameters
    ----------
    directory : path
        Output directory; created if missing (unless ``create=False``).
    create : bool
        When False, a missing store raises ``FileNotFoundError``.

    Examples
    --------
    >>> with Store("reports/latest") as store:          # doctest: +SKIP
    ...     store.put(row)                               # one committed transaction
    ...     rows = store.rows()
    """

    def __init__(self, directory, create=True):
        self.path = store_path(directory)
        if not create and not os.path.exists(self.path):
            raise FileNotFoundError(f"no results store {self.path!r}; run 'denoisebench run --out DIR' first")
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60)
        with self._conn:
            self._conn.execute(_create_sql())
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise ValueError(f"{self.path}: store schema {version}, expected {_SCHEMA_VERSION} "
                                 "(written by another denoisebench version): use another --out")
            if version == 0:  # a new store; an existing one is not rewritten by merely opening it
                self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    # -- writing ----------------------------------------------------------------
    def put(self, row):
        """Commit one finished cell in its own transaction.

        A cell already in the store is kept as it is (the first result wins), so
        two runs racing on the same directory never overwrite each other.
        Returns True when the row was inserted.
        """
        marks = ", ".join("?" for _ in COLUMNS)
        with self._conn:  # BEGIN ... COMMIT (ROLLBACK on error)
            cur = self._conn.execute(
                f"INSERT OR IGNORE INTO cells ({', '.join(COLUMNS)}) VALUES ({marks})", _to_sql(row)
            )
        return cur.rowcount == 1

    # -- reading ----------------------------------------------------------------
    def done_keys(self):
        """The set of keys (tuples in :data:`KEY` order) of every stored cell."""
        return set(self._conn.execute(f"SELECT {', '.join(KEY)} FROM cells").fetchall())

    def rows(self, include_not_applicable=True):
        """Stored rows as dicts, in a stable order: datasets and denoisers in the order
        they were first stored (the grid's order), then by σ and the other settings."""
        cur = self._conn.execute(f"SELECT rowid, {', '.join(COLUMNS)} FROM cells ORDER BY rowid")
        records = [(r[0], _from_sql(r[1:])) for r in cur.fetchall()]
        rows = [row for _, row in records if include_not_applicable or row["status"] == "done"]
        return sorted(rows, key=_order_key(records))

    def __len__(self):
        return self._conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
