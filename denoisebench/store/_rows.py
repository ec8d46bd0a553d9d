"""Rows of the results store: their SQLite form, their checksum, and what makes one valid."""
from __future__ import annotations

import hashlib
import json
import math

from ._file import _ALL, COLUMNS

__all__ = ["row_problem"]

_STATUSES = ("done", "not_applicable")


def _is_real(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sql_value(column, value):
    """A row value in the form SQLite gives back: int for INTEGER, float for REAL, str for TEXT.

    ``-0.0`` becomes ``0.0`` (SQLite stores integral REALs as integers) so the checksum of
    a row is the same before and after a round trip.
    """
    if value is None:
        return None
    kind = COLUMNS.get(column, "TEXT").split()[0]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if kind == "TEXT":
        if not isinstance(value, str):
            raise TypeError(f"store column {column} takes text, got {value!r}")
        return value
    if isinstance(value, bool) or (kind == "INTEGER" and isinstance(value, int)):
        return int(value)
    if kind == "INTEGER" or not _is_real(value):
        raise TypeError(f"store column {column} takes {'an integer' if kind == 'INTEGER' else 'a number'}, "
                        f"got {value!r}")
    return float(value) + 0.0


def _checksum(values):
    """sha256 of a row's values in column order (the fingerprint included)."""
    text = json.dumps([values.get(c) for c in _ALL if c != "checksum"], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def row_problem(row):
    """Why a stored row cannot be shown (a short phrase), or None when it is valid.

    A row is valid when its status is 'done' or 'not_applicable'; σ is finite and
    positive, n ≥ 1, the key's texts are non-empty; a 'done' row has a finite MSE ≥ 0,
    a PSNR that is finite (``+inf`` only for MSE 0) and no NaN anywhere; a
    'not_applicable' row has a reason.
    """
    status = row.get("status")
    if status not in _STATUSES:
        return f"status {status!r} is not one of {', '.join(_STATUSES)}"
    for c in ("dataset", "denoiser", "backend", "device", "dtype"):
        if not isinstance(row.get(c), str) or not row[c]:
            return f"{c} {row.get(c)!r} is not a name"
    sigma, n = row.get("sigma"), row.get("n")
    if not _is_real(sigma) or not math.isfinite(sigma) or sigma <= 0:
        return f"sigma {sigma!r} is not a finite positive number"
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return f"n {n!r} is not an integer >= 1"
    for c in ("seed", "n_train", "sure"):
        if not isinstance(row.get(c), int) or row[c] < 0:
            return f"{c} {row.get(c)!r} is not an integer >= 0"
    for c in ("size", "protocol"):
        if not isinstance(row.get(c), str):
            return f"{c} {row.get(c)!r} is not text"
    if status == "not_applicable":
        return None if isinstance(row.get("reason"), str) and row["reason"] else "a not_applicable row without a reason"
    mse, psnr = row.get("mse"), row.get("psnr")
    if not _is_real(mse) or not math.isfinite(mse) or mse < 0:
        return f"mse {mse!r} is not a finite number >= 0"
    if not _is_real(psnr) or not (math.isfinite(psnr) or (psnr == math.inf and mse == 0)):
        return f"psnr {psnr!r} is not finite"
    for c, kind in COLUMNS.items():
        v = row.get(c)
        if kind.startswith("REAL") and v is not None and (not _is_real(v) or math.isnan(v)):
            return f"{c} {v!r} is not a number"
    return None

