"""Results out: the finished cells of an output directory as a typed pandas DataFrame.

>>> from denoisebench import load_results                     # doctest: +SKIP
>>> df = load_results("reports/latest")                        # doctest: +SKIP
>>> df.groupby(["dataset", "denoiser"])["gap_db"].mean()       # doctest: +SKIP
"""
from __future__ import annotations

from ._rows import done_rows
from . import CSV_COLUMNS, INT_COLUMNS, TEXT_COLUMNS
from ..store import Store

__all__ = ["RESULT_DTYPES", "load_results"]

#: Column → pandas dtype of :func:`load_results`: names are categories, ``size`` is text
#: (``'64'``, ``'37x31'``, ``''``), counts are nullable ``Int64``, ``bound`` is ``bool`` and
#: every measured number is ``float64`` with NaN where unknown (never ``-0.0``).
RESULT_DTYPES = {
    c: ("string" if c == "size" else "category") if c in TEXT_COLUMNS
    else "Int64" if c in INT_COLUMNS
    else "bool" if c == "bound"
    else "float64"
    for c in CSV_COLUMNS
}


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("load_results needs pandas: pip install 'denoisebench[pandas]'") from None
    return pandas


def load_results(directory):
    """The finished cells of ``directory``'s results store as a pandas DataFrame.

    One row per finished cell (cells where a denoiser does not apply are left out, as in
    ``results.csv``), the columns of ``results.csv`` in its order with the dtypes of
    :data:`RESULT_DTYPES`; the values are those of ``results.csv`` (floats bit for bit).

    Parameters
    ----------
    directory : str or path
        An output directory of ``denoisebench run``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ImportError
        pandas is not installed (``pip install 'denoisebench[pandas]'``).
    FileNotFoundError
        ``directory`` holds no results store.
    """
    pd = _pandas()
    with Store(directory, create=False) as store:
        rows = store.rows()
    data = {c: [_value(c, r[c]) for r in done_rows(rows)] for c in CSV_COLUMNS}
    return pd.DataFrame({c: pd.Series(v, dtype=RESULT_DTYPES[c]) for c, v in data.items()}, columns=list(CSV_COLUMNS))


def _value(column, v):
    if column in TEXT_COLUMNS:
        return "" if v is None else str(v)
    if column in INT_COLUMNS:
        return None if v is None else int(v)
    if column == "bound":
        return bool(v)
    return float("nan") if v is None else float(v) + 0.0  # no -0.0
