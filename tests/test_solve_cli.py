"""``denoisebench solve``: a tiny run writes its report; bad input is exit 2 with one line, nothing written."""
import json
import os

import pytest

from denoisebench.cli import main

pytest.importorskip("torch")

BASE = ["solve", "--dataset", "gaussian:size=16", "--operators", "inpaint:fraction=0.5", "--denoisers", "optimal",
        "--n", "2", "--n-train", "4", "--dps-steps", "5"]


def test_solve_writes_table_grid_and_metrics(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*BASE, "--operators", "inpaint:fraction=0.5", "blur:sigma=1,noise=0.01", "--out", str(out)]) == 0
    files = sorted(os.listdir(out))
    assert files == ["grid_blur_sigma=1_noise=0.01.png", "grid_inpaint_fraction=0.5.png", "metrics.json", "solve.md"]
    metrics = json.loads((out / "metrics.json").read_text())
    rows = metrics["operators"]["inpaint:fraction=0.5"]["rows"]
    assert {"pseudo-inverse A⁺c", "exact posterior mean", "ks · optimal", "dps · optimal"} <= set(rows)
    post = rows["exact posterior mean"]
    assert post["mmse"] > 0 and post["method"] == "cg+dense trace"
    assert "exact MMSE" in (out / "solve.md").read_text()


@pytest.mark.parametrize("extra,needle", [
    (["--operators", "deblur:sigma=1"], "unknown operator"),
    (["--operators", "inpaint:fraction=1.5"], "fraction"),
    (["--operators", "blur:sigma=0"], "sigma"),
    (["--operators", "superres:factor=3"], "divisible"),
    (["--denoisers", "nosuch"], "nosuch"),
    (["--solvers", "nosuch"], "nosuch"),
    (["--zeta", "0"], "zeta"),
    (["--dps-sigma-max", "-1"], "dps-sigma-max"),
])
def test_bad_input_is_exit_2_one_line_nothing_written(tmp_path, monkeypatch, capsys, extra, needle):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        code = main([*BASE, *extra, "--out", "out"])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert os.listdir(tmp_path) == []


def test_dps_sigma_max_given_is_the_schedule_start_and_said(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*BASE, "--solvers", "dps", "--dps-sigma-max", "2.5", "--out", str(out)]) == 0
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["dps_sigma_max"] == pytest.approx(2.5, rel=1e-12) and settings["dps_sigma_max_rule"] == "given"
    assert "σ_max = 2.5 (given)" in (out / "solve.md").read_text()
