"""Plugins: a denoiser or dataset from the user's own code appears in every command.

Two ways, both proved here in fresh processes: ``--import MODULE`` (or ``DENOISEBENCH_IMPORT``)
for a module beside the user, and the entry-point group ``denoisebench.plugins`` of an
installed distribution (a ``.dist-info`` with ``entry_points.txt`` on ``sys.path`` is exactly
what pip installs; importlib.metadata discovers it).
"""
import os
import subprocess
import sys
import textwrap

import pytest

SHRINK = textwrap.dedent('''
    from denoisebench import Denoiser, register_denoiser

    @register_denoiser("shrink")
    class Shrink(Denoiser):
        """Shrink towards the image mean by 1/(1 + σ²/v)."""
        def __init__(self, v=0.04):
            self.v = v
        def _denoise(self, y, sigma, xp):
            m = xp.mean(y, axis=(-2, -1), keepdims=True)
            return m + (y - m) / (1 + sigma**2 / self.v)
''')


def _cli(args, cwd, env=None):
    full = {**os.environ, **(env or {})}
    full.pop("DENOISEBENCH_IMPORT", None) if "DENOISEBENCH_IMPORT" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "denoisebench", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def shrink_dir(tmp_path):
    (tmp_path / "shrink.py").write_text(SHRINK)
    return tmp_path


def test_import_flag_makes_the_readme_example_work(shrink_dir):
    listed = _cli(["--import", "shrink", "list"], shrink_dir)
    assert listed.returncode == 0, listed.stderr
    assert "shrink" in listed.stdout and "Shrink towards the image mean" in listed.stdout
    out = shrink_dir / "out"
    ran = _cli(["run", "--import", "shrink", "--denoisers", "shrink", "wiener", "--datasets", "gaussian:size=16",
                "--sigmas", "0.1", "--n", "2", "--out", str(out)], shrink_dir)
    assert ran.returncode == 0, ran.stderr
    table = (out / "table.md").read_text()
    assert "shrink" in table and "wiener" in table


def test_environment_variable_and_process_workers(shrink_dir):
    """DENOISEBENCH_IMPORT reaches spawned workers (they import the plugin themselves)."""
    out = shrink_dir / "out"
    ran = _cli(["run", "--denoisers", "shrink", "--datasets", "gaussian:size=16", "--sigmas", "0.1,0.2", "--n", "2",
                "--executor", "process", "--workers", "1", "--out", str(out)], shrink_dir,
               env={"DENOISEBENCH_IMPORT": "shrink", "PYTHONPATH": str(shrink_dir)})
    assert ran.returncode == 0, ran.stderr
    assert (out / "table.md").read_text().count("shrink") >= 1


def _install_fake_distribution(site, module_source, target="myplugin"):
    pkg = site / "myplugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(module_source)
    info = site / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[denoisebench.plugins]\nmyplugin = {target}\n")
    return site


def test_entry_point_plugin_is_discovered_in_every_command(tmp_path):
    site = _install_fake_distribution(tmp_path / "site", SHRINK.replace('"shrink"', '"halfway"'))
    env = {"PYTHONPATH": str(site)}
    listed = _cli(["list"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    assert "halfway" in listed.stdout
    ran = _cli(["run", "--denoisers", "halfway", "--datasets", "gaussian:size=16", "--sigmas", "0.1", "--n", "2",
                "--out", str(tmp_path / "out")], tmp_path, env)
    assert ran.returncode == 0, ran.stderr


def test_entry_points_are_read_through_importlib_metadata(tmp_path, monkeypatch):
    """In-process: the registry asks importlib.metadata for the group and imports what it names."""
    site = _install_fake_distribution(tmp_path / "site", SHRINK.replace('"shrink"', '"inproc-shrink"'))
    monkeypatch.syspath_prepend(str(site))
    import importlib

    importlib.invalidate_caches()
    from denoisebench import registry

    names = [ep.name for ep in registry._entry_points()]
    assert "myplugin" in names
    registry.load_plugins()
    assert "inproc-shrink" in registry.list_denoisers()
    from denoisebench.testing import check_denoiser

    check_denoiser(registry.make_denoiser("inproc-shrink"))


@pytest.mark.parametrize("source, expect", [
    ("raise ImportError('needs libfoo')", "needs libfoo"),
    ("1/0", "ZeroDivisionError"),
])
def test_a_broken_plugin_is_one_line_naming_it(tmp_path, source, expect):
    (tmp_path / "broken.py").write_text(source)
    done = _cli(["--import", "broken", "list"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "broken" in done.stderr and expect in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_module_and_a_broken_entry_point(tmp_path):
    done = _cli(["run", "--import", "no_such_module_xyz", "--denoisers", "wiener"], tmp_path)
    assert done.returncode == 2 and "no_such_module_xyz" in done.stderr and "Traceback" not in done.stderr
    site = _install_fake_distribution(tmp_path / "site", "", target="myplugin.missing_submodule")
    done = _cli(["list"], tmp_path, {"PYTHONPATH": str(site)})
    assert done.returncode == 2 and "myplugin" in done.stderr and done.stderr.count("\n") == 1
