"""The results store refuses what it cannot trust, and fingerprints decide what is reused.

Every damaged or foreign file is built here with plain ``sqlite3`` / byte edits (an
independent writer), and the refusal is checked to leave the file byte for byte as it was.
"""
import hashlib
import math
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from denoisebench.store import fingerprint as fp
from denoisebench.store import (APPLICATION_ID, COLUMNS, INVALID, KEY, MISSING, REUSABLE, STALE, Store,
                                StoreError)

ROOT = Path(__file__).resolve().parents[1]


def _row(sigma=0.1, denoiser="identity", **over):
    """A valid 'done' row; psnr = 10 log10(1/mse) written out by hand."""
    row = dict.fromkeys(COLUMNS)
    row.update(dataset="gaussian", denoiser=denoiser, sigma=sigma, n=4, seed=0, size="8", backend="numpy",
               device="cpu", dtype="float32", bound=False, n_train=0, sure=0, protocol="", status="done",
               mse=0.01, psnr=20.0, started_at="2020-01-01T00:00:00.000+00:00")
    row.update(over)
    return row


def _key(row):
    return tuple(row[k] for k in KEY)


_FILLED = {}  # count -> bytes of a store of that many rows (each put is a synced commit: build once)


def _filled(directory, count=120):
    """A store of ``count`` rows (120: 12 pages, so damage can land in the middle)."""
    path = Path(directory, "results.sqlite")
    if count not in _FILLED:
        with tempfile.TemporaryDirectory() as scratch:
            with Store(scratch) as store:
                for i in range(count):
                    store.put(_row(sigma=0.01 * (i + 1)), "fp")
            _FILLED[count] = Path(scratch, "results.sqlite").read_bytes()
    Path(directory).mkdir(parents=True, exist_ok=True)
    path.write_bytes(_FILLED[count])
    return path


def _refused(directory, match):
    """Open ``directory``; assert a one-line StoreError naming the store, the file unchanged."""
    path = Path(directory, "results.sqlite")
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreError) as info:
        Store(directory)
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in msg
    assert str(path) in msg or str(directory) in msg
    assert match in msg, msg
    if before is not None:
        assert path.read_bytes() == before  # never adopted or rewritten
    return msg


# -- identity ------------------------------------------------------------------------------
def test_a_new_store_is_marked_as_ours(tmp_path):
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x444E4231 == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {"cells",
                                                                                                  "history"}
    Store(tmp_path).close()  # and it opens again


def test_an_empty_file_is_a_new_store(tmp_path):
    """SQLite treats a 0-byte file as an empty database (a crash right after creating it)."""
    (tmp_path / "results.sqlite").write_bytes(b"")
    with Store(tmp_path) as store:
        assert store.put(_row(), "fp") == "inserted"
    with Store(tmp_path) as store:
        assert len(store.rows()) == 1


# -- the corrupt-store matrix ------------------------------------------------------------------
def _truncate_one_byte(path):
    os.truncate(path, path.stat().st_size - 1)


def _truncate_one_page(path):
    os.truncate(path, path.stat().st_size - 4096)


def _clobber_middle_page(path):
    """Overwrite the header of the middle page (b-tree page type, cell counts) with 0xFF."""
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as f:
        f.seek((pages // 2) * 4096)
        f.write(b"\xff" * 16)


CORRUPTIONS = {
    "truncated by one byte": (_truncate_one_byte, "damaged"),
    "truncated by one page": (_truncate_one_page, "damaged"),
    "middle page overwritten": (_clobber_middle_page, "damaged"),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_damaged_store_is_refused(tmp_path, name):
    damage, match = CORRUPTIONS[name]
    path = _filled(tmp_path)
    assert path.stat().st_size >= 5 * 4096
    damage(path)
    msg = _refused(tmp_path, match)
    assert "--fresh" in msg


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes())


def _text(path):
    path.write_text("dataset,denoiser,sigma\ngaussian,identity,0.1\n")


def _sqlite(*statements):
    def make(path):
        with sqlite3.connect(path) as conn:
            for sql in statements:
                conn.execute(sql)
        conn.close()
    return make


def _old_schema_v2(path):
    """The store written by denoisebench before fingerprints: no application_id, user_version 2."""
    v2 = {c: kind for c, kind in COLUMNS.items() if c not in ("protocol", "psnr_images")}  # added after v2
    key = [k for k in KEY if k in v2]
    cols = ", ".join(f"{c} {kind}" for c, kind in v2.items())
    values = ", ".join("?" for _ in v2)
    row = _row()
    row["bound"] = 0
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE cells ({cols}, PRIMARY KEY ({', '.join(key)}))")
        conn.execute(f"INSERT INTO cells VALUES ({values})", [row[c] for c in v2])
        conn.execute("PRAGMA user_version = 2")
    conn.close()


FOREIGN = {
    "random bytes": (_random_bytes, "not a SQLite database"),
    "text file": (_text, "not a SQLite database"),
    "someone else's table": (_sqlite("CREATE TABLE cells (id INTEGER, name TEXT)", "INSERT INTO cells VALUES (1, 'x')"),
                             "not a denoisebench results store"),
    "another application_id": (_sqlite("CREATE TABLE t (x)", f"PRAGMA application_id = {0x12345678}"),
                               "application_id 0x12345678"),
    "our id, another schema": (_sqlite("CREATE TABLE cells (x)", f"PRAGMA application_id = {APPLICATION_ID}",
                                       "PRAGMA user_version = 3"), "not a denoisebench results store"),
    "a newer schema": (_sqlite("CREATE TABLE cells (x)", f"PRAGMA application_id = {APPLICATION_ID}",
                               "PRAGMA user_version = 4"), "newer denoisebench"),
    "old schema v2": (_old_schema_v2, "older denoisebench"),
}


@pytest.mark.parametrize("name", FOREIGN)
def test_a_foreign_file_is_refused_and_left_alone(tmp_path, name):
    make, match = FOREIGN[name]
    make(tmp_path / "results.sqlite")
    _refused(tmp_path, match)


def test_a_directory_at_the_store_path_is_refused(tmp_path):
    (tmp_path / "results.sqlite").mkdir()
    _refused(tmp_path, "is a directory")
    with pytest.raises(sqlite3.OperationalError):  # what SQLite alone would say, at the first query
        sqlite3.connect(tmp_path / "results.sqlite").execute("SELECT 1")


def test_out_that_is_a_file_or_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Store(tmp_path / "file")
    with pytest.raises(StoreError, match="cannot create output directory"):
        Store(tmp_path / "file" / "sub")


def test_a_missing_store_without_create(tmp_path):
    with pytest.raises(FileNotFoundError):
        Store(tmp_path, create=False)
    assert not (tmp_path / "results.sqlite").exists()


# -- rows -------------------------------------------------------------------------------------
EDITS = {
    "mse = -1": ("UPDATE cells SET mse = -1 WHERE sigma = ?", "mse -1.0"),
    "status = 'bogus'": ("UPDATE cells SET status = 'bogus' WHERE sigma = ?", "status 'bogus'"),
    "mse = NaN (SQLite stores NULL)": ("UPDATE cells SET mse = ? WHERE sigma = ?", "mse None"),
    "mse = 'nan' (text)": ("UPDATE cells SET mse = 'nan' WHERE sigma = ?", "mse 'nan'"),
    "sigma = 0": ("UPDATE cells SET sigma = 0 WHERE sigma = ?", "sigma 0"),
    "a plausible mse": ("UPDATE cells SET mse = 0.0123 WHERE sigma = ?", "checksum mismatch"),
    "not_applicable without reason": ("UPDATE cells SET status = 'not_applicable' WHERE sigma = ?", "reason"),
}


@pytest.mark.parametrize("name", EDITS)
def test_hand_edited_rows_are_reported_and_recomputed(tmp_path, name):
    sql, problem = EDITS[name]
    rows = [_row(sigma=s) for s in (0.1, 0.2, 0.3)]
    with Store(tmp_path) as store:
        for row in rows:
            store.put(row, "fp")
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        conn.execute(sql, (math.nan, 0.2) if sql.count("?") == 2 else (0.2,))
    conn.close()
    with Store(tmp_path) as store:
        assert [r["sigma"] for r in store.rows()] == [0.1, 0.3]  # never shown
        (bad, why), = store.invalid_rows()  # never silently dropped
        assert problem in why, why
        assert len(store) == 3
        assert store.classify({_key(r): "fp" for r in rows})[_key(rows[1])] in (INVALID, MISSING)
        # recomputed: the edited row goes to history (sigma = 0 no longer has the same key)
        assert store.put(rows[1], "fp") in ("replaced", "inserted")
        assert [r["sigma"] for r in store.rows()] == [0.1, 0.2, 0.3]
        assert store.current(_key(rows[1]))["mse"] == 0.01


def test_rows_no_plan_can_replace_are_retired_to_history(tmp_path):
    with Store(tmp_path) as store:
        store.put(_row(sigma=0.1), "fp")
        store.put(_row(sigma=0.2), "fp")
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        conn.execute("UPDATE cells SET sigma = -1 WHERE sigma = 0.2")
    conn.close()
    with Store(tmp_path) as store:
        (row, why), = store.retire_invalid()
        assert row["sigma"] == -1 and "sigma -1" in why
        assert store.invalid_rows() == [] and len(store) == 1
        (old,) = store.history()
        assert old["sigma"] == -1 and old["replaced_reason"].startswith("invalid: sigma")


def test_a_flipped_byte_inside_a_value_is_caught_by_the_row_checksum(tmp_path):
    path = _filled(tmp_path, count=3)
    data = bytearray(path.read_bytes())
    at = data.index(b"2020-01-01T00:00:00.000")
    data[at + 3] = ord("1")  # 2020 -> 2021: SQLite's integrity check cannot see this
    path.write_bytes(bytes(data))
    with Store(tmp_path) as store:
        assert len(store.rows()) == 2
        assert "checksum" in store.invalid_rows()[0][1]


def test_invalid_results_are_never_stored(tmp_path):
    with Store(tmp_path) as store:
        for bad, match in [(_row(mse=math.nan), "mse nan"), (_row(mse=-1.0), "mse -1.0"),
                           (_row(status="bogus"), "status"), (_row(psnr=math.inf), "psnr inf"),
                           (_row(sigma=math.inf), "sigma inf"), (_row(n=0), "n 0")]:
            with pytest.raises(ValueError, match=match):
                store.put(bad, "fp")
        with pytest.raises(ValueError, match="fingerprint"):
            store.put(_row(), None)
        with pytest.raises(TypeError, match="sigma"):
            store.put(_row(sigma="0.1"), "fp")
        assert len(store) == 0


def test_values_round_trip_exactly(tmp_path):
    """numpy scalars, -0.0, and an exact denoiser's mse 0 (psnr +inf) come back valid and equal."""
    row = _row(sigma=np.float64(0.3), n=np.int64(5), seed=np.int64(7), mse=0.0, psnr=math.inf, gain_db=-0.0,
               gap_db=-math.inf, bound=np.bool_(True), mse_stderr=np.float32(0.5))
    with Store(tmp_path) as store:
        assert store.put(row, "fp") == "inserted"
    with Store(tmp_path) as store:
        (back,) = store.rows()
        assert store.invalid_rows() == []
    assert back["sigma"] == 0.3 and back["n"] == 5 and back["seed"] == 7 and back["bound"] is True
    assert back["psnr"] == math.inf and back["gap_db"] == -math.inf and back["mse_stderr"] == 0.5
    assert back["fingerprint"] == "fp"


def test_not_applicable_rows(tmp_path):
    row = _row(status="not_applicable", mse=None, psnr=None, reason="needs a GPU")
    with Store(tmp_path) as store:
        store.put(row, "fp")
        assert store.rows()[0]["reason"] == "needs a GPU"
        assert store.rows(include_not_applicable=False) == []


# -- fingerprints in the store ----------------------------------------------------------------
def test_a_changed_fingerprint_moves_the_old_row_to_history(tmp_path):
    old, new = _row(mse=0.0093979), _row(mse=0.0095785)
    with Store(tmp_path) as store:
        assert store.put(old, "A") == "inserted"
        assert store.classify([(_key(old), "A")]) == {_key(old): REUSABLE}
        assert store.classify([(_key(old), "B")]) == {_key(old): STALE}
        assert store.classify([(_key(_row(sigma=0.7)), "A")]) == {_key(_row(sigma=0.7)): MISSING}
        assert store.put(new, "B") == "replaced"
    with Store(tmp_path) as store:
        current = store.current(_key(new))
        assert (current["mse"], current["fingerprint"]) == (0.0095785, "B")
        assert [r["mse"] for r in store.rows()] == [0.0095785]  # history never shown as current
        (moved,) = store.history()
        assert (moved["mse"], moved["fingerprint"], moved["replaced_reason"]) == (0.0093979, "A",
                                                                                   "fingerprint changed")
        assert len(store) == 1


def test_the_first_result_wins_for_the_same_fingerprint(tmp_path):
    with Store(tmp_path) as store:
        assert store.put(_row(mse=0.01), "A") == "inserted"
        assert store.put(_row(mse=0.02), "A") == "kept"
        assert store.current(_key(_row()))["mse"] == 0.01 and store.history() == []


def test_rows_keep_the_grid_order(tmp_path):
    with Store(tmp_path) as store:
        for d in ("wiener", "identity"):
            for s in (0.3, 0.1):
                store.put(_row(sigma=s, denoiser=d), "fp")
        store.put(_row(sigma=0.1, denoiser="wiener", mse=0.02), "new")  # replaced in place: same order
        assert [(r["denoiser"], r["sigma"]) for r in store.rows()] == [
            ("wiener", 0.1), ("wiener", 0.3), ("identity", 0.1), ("identity", 0.3)]


# -- --fresh ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [_filled, lambda d: _old_schema_v2(Path(d, "results.sqlite")),
                                  lambda d: _random_bytes(Path(d, "results.sqlite"))],
                         ids=["ours", "old schema v2", "damaged"])
def test_fresh_moves_ours_or_damaged_aside_and_starts_anew(tmp_path, make):
    make(tmp_path)
    before = (tmp_path / "results.sqlite").read_bytes()
    with Store(tmp_path, fresh=True) as store:
        assert len(store) == 0
        moved = Path(store.moved_to)
    assert moved.parent == tmp_path and moved.name.startswith("results.sqlite.old-")
    assert moved.read_bytes() == before  # never deleted


def test_fresh_never_moves_someone_elses_database(tmp_path):
    FOREIGN["someone else's table"][0](tmp_path / "results.sqlite")
    before = (tmp_path / "results.sqlite").read_bytes()
    with pytest.raises(StoreError, match="move it away yourself"):
        Store(tmp_path, fresh=True)
    assert (tmp_path / "results.sqlite").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]


# -- concurrency ------------------------------------------------------------------------------
def _put_many(out, barrier, who, same_fingerprint):
    barrier.wait()  # both open (and create) the store at once
    with Store(out) as store:
        for i in range(25):
            store.put(_row(sigma=0.01 * (i + 1)), "fp" if same_fingerprint else f"fp-{who}")  # shared cells
            store.put(_row(sigma=0.01 * (i + 1), denoiser=f"own-{who}"), "fp")  # this process's cells


@pytest.mark.parametrize("same_fingerprint", [True, False], ids=["same fingerprint", "different fingerprints"])
def test_concurrent_puts_from_two_processes(tmp_path, same_fingerprint):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_put_many, args=(tmp_path, barrier, who, same_fingerprint)) for who in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with Store(tmp_path) as store:
        keys = [_key(r) for r in store.rows()]
        assert len(keys) == len(set(keys)) == 3 * 25 == len(store)  # one current row per key
        assert store.invalid_rows() == []
        if same_fingerprint:
            assert store.history() == []


# -- permissions ------------------------------------------------------------------------------
_OPEN = "import sys; from denoisebench.store import Store, StoreError\ntry:\n    Store(sys.argv[1])\n" \
        "except StoreError as e:\n    print(e); sys.exit(2)\n"


def _as_unprivileged(directory):
    """Open ``directory``'s store in a process that permissions apply to (root ignores them)."""
    cmd = [sys.executable, "-c", _OPEN, str(directory)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("case", ["read-only file", "read-only directory", "new store, read-only directory"])
def test_an_unwritable_store_is_refused_at_open(case):
    base = Path(tempfile.mkdtemp(prefix="dnb-store-"))  # not under root's private pytest folder
    out = base / "out"
    try:
        os.chmod(base, 0o755)
        if case != "new store, read-only directory":
            _filled(out, count=2)
        out.mkdir(exist_ok=True)
        path = out / "results.sqlite"
        if path.exists():
            os.chmod(path, 0o444 if case == "read-only file" else 0o666)
        os.chmod(out, 0o777 if case == "read-only file" else 0o555)
        before = path.read_bytes() if path.exists() else None
        done = _as_unprivileged(out)
        assert done.returncode == 2, done.stderr
        assert done.stdout.count("\n") == 1 and "Traceback" not in done.stderr
        assert str(path) in done.stdout
        assert ("read-only" if before is not None else "directory is writable") in done.stdout
        assert (path.read_bytes() if path.exists() else None) == before
    finally:
        os.chmod(out, 0o755) if out.exists() else None
        shutil.rmtree(base)


# -- fingerprint functions --------------------------------------------------------------------
def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 2_500_000, dtype=np.uint8).tobytes()  # > 2 chunks
    (tmp_path / "w.bin").write_bytes(data)
    assert fp.file_sha256(tmp_path / "w.bin") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert fp.file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_one_changed_byte_changes_the_fingerprint_even_with_the_same_mtime(tmp_path):
    path = tmp_path / "mine.safetensors"
    path.write_bytes(b"\x00" * 4096)
    st = path.stat()
    cell = {"dataset": "gaussian", "denoiser": f"unet:weights={path}", "sigma": 0.1}
    before = fp.cell_fingerprint(cell, [path], code="c")
    with open(path, "r+b") as f:  # retrained in place: same size
        f.seek(2048)
        f.write(b"\x01")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fp.cell_fingerprint(cell, [path], code="c") != before
    assert fp.file_sha256(path) == hashlib.sha256(b"\x00" * 2048 + b"\x01" + b"\x00" * 2047).hexdigest()


def test_files_count_by_name_and_content_not_by_folder(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img0.png").write_bytes(b"one")
        (tmp_path / folder / "img1.png").write_bytes(b"two")
    a, b = ([tmp_path / f / n for n in ("img0.png", "img1.png")] for f in ("a", "b"))
    assert fp.files_sha256(a) == fp.files_sha256(b) == fp.files_sha256(list(reversed(a)))  # a moved folder
    (tmp_path / "b" / "img1.png").write_bytes(b"twO")
    assert fp.files_sha256(a) != fp.files_sha256(b)
    (tmp_path / "b" / "img1.png").write_bytes(b"two")
    (tmp_path / "b" / "img1.png").rename(tmp_path / "b" / "img2.png")  # a renamed image: its order may change
    assert fp.files_sha256(a) != fp.files_sha256([tmp_path / "b" / "img0.png", tmp_path / "b" / "img2.png"])


def test_cell_fingerprint_covers_settings_and_code():
    cell = {"dataset": "gaussian", "denoiser": "wiener", "sigma": 0.1, "n": 64, "seed": 0}
    base = fp.cell_fingerprint(cell, code="c")
    assert base == fp.cell_fingerprint(dict(reversed(list(cell.items()))), code="c")  # key order is irrelevant
    assert base == fp.cell_fingerprint({**cell, "n": np.int64(64)}, code="c")
    assert len({base, fp.cell_fingerprint({**cell, "sigma": 0.2}, code="c"),
                fp.cell_fingerprint({**cell, "seed": 1}, code="c"), fp.cell_fingerprint(cell, code="d")}) == 4
    assert fp.cell_fingerprint(cell) == fp.cell_fingerprint(cell, code=fp.code_fingerprint())
    with pytest.raises(ValueError, match="sigma=nan"):
        fp.cell_fingerprint({**cell, "sigma": math.nan})
    with pytest.raises(TypeError, match="cannot fingerprint"):
        fp.cell_fingerprint({**cell, "x": object()})


def test_object_input_files():
    class Weights:
        def input_files(self):
            return ["/w.safetensors"]

    assert fp.object_input_files(object()) == [] and fp.object_input_files(Weights()) == ["/w.safetensors"]


def test_code_fingerprint_is_stable_across_calls_and_processes():
    here = fp.code_fingerprint()
    assert here == fp.code_fingerprint() and len(here) == 16 and int(here, 16) >= 0
    other = subprocess.run([sys.executable, "-c", "from denoisebench.store.fingerprint import code_fingerprint as f; "
                            "print(f())"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == here, other.stderr


def test_source_digest_sees_library_code_but_not_presentation(tmp_path):
    src = fp._PACKAGE_DIR  # the package root (fingerprint.py lives in store/)
    copy = tmp_path / "one" / "denoisebench"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
    base = fp._source_digest(copy)
    assert base == fp._source_digest(src)  # the copy holds the same sources

    def changed(edit):
        edit()
        return fp._source_digest(copy)

    moved = tmp_path / "two" / "denoisebench"
    shutil.move(tmp_path / "one", tmp_path / "two")
    copy = moved
    assert fp._source_digest(copy) == base  # where the package lives does not matter
    (copy / "cli.py").write_text("# presentation only\n")
    (copy / "commands").mkdir(exist_ok=True)
    (copy / "commands" / "extra.py").write_text("x = 1\n")
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "metrics.cpython-311.pyc").write_bytes(b"junk")
    assert fp._source_digest(copy) == base
    metrics = (copy / "metrics.py").read_bytes()
    assert changed(lambda: (copy / "metrics.py").write_bytes(metrics.replace(b"10", b"20", 1))) != base
    (copy / "metrics.py").write_bytes(metrics)
    assert changed(lambda: (copy / "datasets" / "_new.py").write_text("")) != base  # a new module counts
