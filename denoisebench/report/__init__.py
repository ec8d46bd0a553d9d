"""Reports from the results store: ``results.csv``, ``table.md`` and ``mse_vs_sigma.png``.

Everything here is a function of the stored rows alone, so ``denoisebench report
DIR`` rebuilds exactly what ``denoisebench run`` wrote.  Rows are grouped by
dataset and run settings (n, seed, size, backend, device, dtype, protocol): one
table and one figure row per group; a group's heading states its protocol.  A
group whose σ are all ``k/255`` is shown in 8-bit units (``σ=25/255``,
:func:`denoisebench.report._rows.units_255`); a group of whole images (``crop=0``) gets
a second table, the mean over images of each image's PSNR (the papers' protocol).  Cells where a denoiser does not apply are kept in the
store but left out of the CSV, and named under their table.  No number is ever
printed as ``-0.00`` (:func:`format_number`).  Every file is written to a unique
temporary name and renamed over the old one, so concurrent reports on one
directory never see each other's half-written files.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import secrets
import time

from . import _rows
from ._figures import plot_mse
from ._rows import GROUP  # noqa: F401  (part of this module's interface)
from ..metrics import loglog_slope, psnr
from ..store import Store

__all__ = ["CSV_COLUMNS", "csv_text", "format_number", "json_rows", "plot_mse", "table_markdown", "write_outputs"]

#: Columns of results.csv, in order.
CSV_COLUMNS = (
    "dataset", "denoiser", "sigma", "n", "seed", "size", "mse", "mse_stderr", "psnr", "gain_db",
    "optimal_mse", "optimal_stderr", "gap_db", "slope", "seconds", "backend", "device", "dtype", "bound", "n_train",
    "sure", "sure_mse", "sure_stderr", "psnr_images", "protocol",
)
#: Integer columns (``sure``: Hutchinson probes, 0 when SURE was not computed).
INT_COLUMNS = ("n", "seed", "n_train", "sure")
#: Text columns (``size``: ``'64'``, ``'37x31'``, ``''`` for a dataset without a size; ``protocol``:
#: ``''`` for float images as drawn, ``'8bit'``, see :data:`denoisebench.grid.runner.PROTOCOLS`).
#: ``psnr_images`` is the mean over images of each image's PSNR; ``psnr`` is the PSNR of the mean MSE.
TEXT_COLUMNS = ("dataset", "denoiser", "size", "backend", "device", "dtype", "protocol")
FILES = {"csv": "results.csv", "table": "table.md", "plot": "mse_vs_sigma.png"}

_done = _rows.done_rows


def _float(v):
    """A stored float as written out: ``None`` for NaN/±inf, ``0.0`` for ``-0.0``."""
    return float(v) + 0.0 if v is not None and math.isfinite(v) else None


def format_number(value, spec):
    """``format(value, spec)``, ``'—'`` for unknowns, and never a negative zero.

    A value that rounds to zero is printed as zero: ``format_number(-0.001, '.2f')`` is
    ``'0.00'`` (``format`` gives ``'-0.00'``), and with a sign, ``'+.2f'`` gives ``'+0.00'``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = format(value, spec)
    try:
        zero = float(text) == 0
    except ValueError:  # e.g. a spec with thousands separators; not a zero to normalise
        return text
    return format(abs(value) * 0, spec) if zero else text  # +0 of the value's own type


# -- CSV and JSON ------------------------------------------------------------------
def csv_text(rows):
    """results.csv as text: the finished rows, :data:`CSV_COLUMNS`, empty cells for unknowns.

    Floats are written with ``repr`` (they read back bit for bit), booleans as ``true``/``false``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _done(rows):
        writer.writerow(_csv_cell(row.get(c)) for c in CSV_COLUMNS)
    return out.getvalue()


def _csv_cell(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value + 0.0)
    return "" if value is None else str(value)


def size_value(size):
    """Store text of an image size → JSON: ``64`` for a square, ``[37, 31]`` (height, width)
    for ``'37x31'``, ``None`` for a dataset without a size (``''``)."""
    if not size:
        return None
    h, _, w = str(size).lower().partition("x")
    return int(h) if not w or int(w) == int(h) else [int(h), int(w)]


def json_rows(rows):
    """The finished rows as JSON-ready dicts with typed values (``run --json``).

    Keys are :data:`CSV_COLUMNS`.  Integers (:data:`INT_COLUMNS`) are ``int``, ``bound`` is a
    ``bool``, measured numbers are ``float`` (``None`` where unknown or not finite) and ``size``
    is :func:`size_value`: ``64`` for 64×64, ``[37, 31]`` for 37×31 (height, width).
    """
    def typed(c, v):
        if c == "size":
            return size_value(v)
        if c in TEXT_COLUMNS:
            return v
        if c == "bound":
            return bool(v)
        if c in INT_COLUMNS:
            return None if v is None else int(v)
        return _float(v)

    return [{c: typed(c, row.get(c, "" if c in TEXT_COLUMNS else None)) for c in CSV_COLUMNS} for row in _done(rows)]


# -- grouping ----------------------------------------------------------------------
_groups, _series, _optimum, _title = _rows.groups, _rows.series, _rows.optimum, _rows.title


# -- table.md ------------------------------------------------------------------------
def _md_table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _sigma_header(sigmas):
    units = _rows.units_255(sigmas)
    return [f"σ={_rows.sigma_text(s, units)}" for s in sigmas]


def _psnr_table(series, optimum, sigmas):
    header = ["denoiser"] + _sigma_header(sigmas) + ["slope", "s/call"]
    body = []
    for label, by_sigma in series.items():
        times = [r["seconds"] for r in by_sigma.values() if r["seconds"] is not None]
        mean_time = sum(times) / len(times) if times else None
        slope = next(iter(by_sigma.values()))["slope"]
        body.append([label] + [format_number(by_sigma[s]["psnr"] if s in by_sigma else None, ".2f") for s in sigmas]
                    + [format_number(slope, ".2f"), format_number(mean_time, ".3g")])
    if optimum:
        s_opt = sorted(optimum)
        slope = loglog_slope(s_opt, [optimum[s][0] for s in s_opt])
        body.append(["**optimum (MMSE)**"] + [format_number(psnr(optimum[s][0]) if s in optimum else None, ".2f")
                                              for s in sigmas] + [format_number(slope, ".2f"), ""])
    return _md_table(header, body)


def _column_table(series, sigmas, column):
    """A table of one stored column per denoiser and σ, two decimals (a paired gap with ± its standard error)."""
    header = ["denoiser"] + _sigma_header(sigmas)
    body = [[label] + [_cell(by_sigma.get(s), column) for s in sigmas] for label, by_sigma in series.items()]
    return _md_table(header, body)


def _cell(r, column):
    if r is None:
        return "—"
    se = _rows.gap_stderr_db(r) if column == "gap_db" else None
    return format_number(r.get(column), ".2f") + (f" ± {format_number(se, '.2f')}" if se is not None else "")


def _sure_cell(r):
    if r is None or r.get("sure_mse") is None or not r["sure_mse"] > 0:
        return "—"
    err = 10 * math.log10(1 + (r["sure_stderr"] or 0.0) / r["sure_mse"])
    return f"{format_number(10 * math.log10(r['sure_mse'] / r['mse']), '+.2f')} ± {format_number(err, '.2f')}"


def _sure_table(series, sigmas):
    header = ["denoiser"] + _sigma_header(sigmas)
    body = [[label] + [_sure_cell(by_sigma.get(s)) for s in sigmas] for label, by_sigma in series.items()
            if any(r.get("sure_mse") is not None for r in by_sigma.values())]
    return _md_table(header, body)


def _group_markdown(key, rows):
    done = _done(rows)
    sigmas = sorted({r["sigma"] for r in rows})
    series, optimum = _series(done), _optimum(rows)
    fits = sorted({r["n_train"] for r in rows if r["n_train"]})
    fitted = f", n_train={'/'.join(map(str, fits))}" if fits else ""
    whole = _rows.whole_images(dict(zip(GROUP, key))["dataset"])
    calls = "seconds to denoise the n images, one call per image size" if whole else "seconds per batch"
    parts = [f"## {_title(key)}{fitted}", "",
             f"PSNR (dB, peak 1) of the mean MSE per pixel{' (MSE of each image, averaged over images)' * whole}; "
             f"slope: least-squares log-log slope of MSE vs σ (2 for the identity); s/call: {calls}.", ""]
    parts += [_psnr_table(series, optimum, sigmas), ""]
    if whole and series:
        parts += ["Mean PSNR over images (the papers' protocol): the mean over the n images of each image's "
                  "PSNR, 10·log10(1/MSE_i).", "", _column_table(series, sigmas, "psnr_images"), ""]
    if optimum and series:
        paired = any(_rows.is_paired(r) for r in done)
        note = (" Paired: the optimum is the exact optimal denoiser on the same noisy images (its MMSE over all "
                "images is only a Monte Carlo estimate), ± the standard error of the paired per-image difference; "
                "the optimum row above is the same." if paired else " The optimum is the exact MMSE.")
        parts += [f"Gap to the optimum (dB, 10·log10(MSE/MMSE); 0 is optimal).{note}", "",
                  _column_table(series, sigmas, "gap_db"), ""]
    if any(r.get("sure_mse") is not None for r in done):
        parts += ["SURE (Stein's unbiased risk estimate, no clean image) against the true MSE: "
                  "10·log10(SURE/MSE) in dB, ± its standard error in dB.", "", _sure_table(series, sigmas), ""]
    skipped = sorted({r["denoiser"] for r in rows if r["status"] == "not_applicable"} - {r["denoiser"] for r in done})
    if skipped:
        parts += [f"Not applicable here: {', '.join(skipped)}.", ""]
    return parts


def table_markdown(rows):
    """table.md: per dataset and settings, PSNR per denoiser and σ, the optimum, the gap; for whole
    images also the mean PSNR over images; σ in 8-bit units where all are ``k/255``."""
    head = ["# denoisebench results", "",
            "Mean MSE per pixel over n seeded test images with white Gaussian noise of standard "
            "deviation σ, shown as PSNR = 10·log10(1/MSE); every σ uses the same noise draw. "
            "Learning denoisers are fit on clean training images. Full numbers: results.csv.", ""]
    if not rows:
        return "\n".join(head + ["No results yet.", ""])
    groups = _groups(rows)
    if any(_rows.units_255({r["sigma"] for r in group}) for group in groups.values()):
        head[2] += (" σ is shown in 8-bit units (σ=25/255: standard deviation 25 on the 0–255 scale) in every "
                    "table whose σ are all whole multiples of 1/255; results.csv keeps σ on the [0, 1] scale.")
    body = [line for key, group in groups.items() for line in _group_markdown(key, group)]
    return "\n".join(head + body)


# -- files -----------------------------------------------------------------------------
def _atomic_write(path, write):
    """Call ``write(tmp)`` on a fresh temporary file beside ``path``, then rename it to ``path``.

    The temporary name is unique per call (process id and random bytes), so concurrent
    writers never share one; the rename is atomic, so a reader sees the old or the new
    file, never half of one.  The file is created like ``open(path, 'w')`` would (mode
    0o666 less the umask), unlike :func:`tempfile.mkstemp`'s 0o600.  On failure the
    temporary file is removed.
    """
    head, tail = os.path.split(os.fspath(path))
    tmp = os.path.join(head, f".{tail}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, PermissionError):  # a disk fault: name the file
            raise OSError(exc.errno, f"cannot write {path} ({exc.strerror or exc})") from exc
        raise


_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{12}\.tmp$")
_STALE_S = 120  # a report takes seconds: a temporary file two minutes old whose writer is gone is a killed one's


def _remove_stale_temporaries(directory, names):
    """Remove temporary files of :func:`_atomic_write` for ``names`` left by killed writers:
    over two minutes old and named by a process id that no longer runs on this machine."""
    now = time.time()
    for entry in os.scandir(directory):
        m = _TMP_NAME.match(entry.name)
        if not m or m["name"] not in names:
            continue
        try:
            if now - entry.stat().st_mtime > _STALE_S and not _alive(int(m["pid"])):
                os.remove(entry.path)
        except OSError:  # gone already, or not ours to remove
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists but not ours; or not a pid: leave the file alone
    return True


def _write_text(text):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    return write


def write_outputs(directory):
    """(Re)write results.csv, table.md and mse_vs_sigma.png in ``directory`` from its store.

    Returns ``{'csv': path, 'table': path, 'plot': path}``.  Each file is replaced atomically
    (see :func:`_atomic_write`), so concurrent calls on one directory all succeed; temporary
    files of writers killed over two minutes ago are removed.
    """
    with Store(directory, create=False) as store:
        rows = store.rows()
    paths = {k: os.path.join(os.fspath(directory), name) for k, name in FILES.items()}
    _remove_stale_temporaries(directory, set(FILES.values()))
    _atomic_write(paths["csv"], _write_text(csv_text(rows)))
    _atomic_write(paths["table"], _write_text(table_markdown(rows)))
    _atomic_write(paths["plot"], lambda tmp: plot_mse(rows, tmp))
    return paths
