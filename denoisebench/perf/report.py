"""Markdown of ``denoisebench perf``: ``reports/performance.md`` (CPU) and ``reports/gpu.md``.

Pure functions of the results dict built by :func:`denoisebench.perf.measure.run_perf`.

References
----------
GitHub Flavored Markdown tables (https://github.github.com/gfm/#tables-extension-).
"""
from __future__ import annotations

import os

from .timing import CROSSES

__all__ = ["cpu_markdown", "gpu_markdown", "gpu_placeholder"]

CAVEAT = ("Only ratios measured in the same run mean something: this machine's speed swings by about "
          "1.6× from run to run (shared cores), so absolute images/s move between runs while ratios of "
          "timings taken one after the other in one process do not. Every number is the median of "
          "several timed calls after one untimed warm-up, device work synchronised before the clock stops.")


def _num(v):
    if isinstance(v, str):
        return v.replace("|", "\\|").replace("\n", " ")
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def _shape(s):
    return "(" + ", ".join(str(d) for d in s) + ")"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_num(c) for c in r) + " |" for r in rows]


def _head(title, r):
    quick = " **Quick mode: tiny sizes, checks the pipeline only — not a measurement.**" if r["quick"] else ""
    return [f"# {title}", "", f"Regenerate with `{r['command']}` (run started {r['started']}, took "
            f"{r['seconds']:.0f} s).{quick}", "", CAVEAT, "", "## Machine", "",
            *_table(["", ""], [[k, str(v)] for k, v in r["machine"].items()]), ""]


def _size_label(size):
    side, batch = size
    return f"{side}×{side} ×{batch} img/s"


def _throughput(r, peer="skimage-wavelet"):
    sizes = r["sizes"]
    by_name = {row["denoiser"]: row for row in r["throughput"]}
    ref = by_name.get(peer)
    header = ["denoiser"] + [_size_label(s) for s in sizes]
    if ref and r["device"] == "cpu":
        header += [f"× {peer} at {s[0]}×{s[0]}" for s in sizes]
    header.append(f"where the time goes (cProfile own time, 3 calls at {sizes[-1][0]}×{sizes[-1][0]})")
    rows = []
    for row in r["throughput"]:
        cells = [f"`{row['denoiser']}`"] + [row["rates"].get(s) for s in sizes]
        if len(header) > len(sizes) + 2:
            cells += [_ratio(row["rates"].get(s), ref["rates"].get(s)) for s in sizes]
        rows.append(cells + [row["profile"] or "—"])
    return [f"## Throughput per denoiser ({r['backend']} on {r['device']}, float32, σ = 0.1, `gaussian` images)", "",
            "Oracle bounds get the clean batch too; `wiener` is fit on 8 images first; `unet` runs with randomly "
            "initialised weights (the trained network's layers, so its speed).", "", *_table(header, rows), ""]


def _ratio(a, b):
    return a / b if isinstance(a, float) and isinstance(b, float) else "—"


def _x(v):
    """A ratio: two decimals below 10, one above."""
    return f"{v:.2f}×" if v < 10 else f"{v:.1f}×"


def _db(v, sign=False):
    """A PSNR (or a difference of two) to two decimals: never rounded into "equal"."""
    return "—" if v is None else f"{v:+.2f}" if sign else f"{v:.2f}"


def _peers(r):
    header = ["comparison", "batch", "rounds", "ours img/s", "peer img/s", "ratio (median)", "min–max", "IQR",
              "target", "verdict", "PSNR ours (dB)", "PSNR peer (dB)", "ours − peer (dB)", "notes"]
    rows, missing, profiles, flags, threads = [], [], [], [], []
    for p in r["peers"]:
        if "missing" in p:
            missing.append(f"- {p['comparison']}: {p['missing']}")
            continue
        s = p["spread"]
        rows.append([p["comparison"], _shape(p["shape"]), str(s["rounds"]), p["ours"], p["peer"], _x(s["median"]),
                     f"{_x(s['min'])}–{_x(s['max'])}", f"{_x(s['q1'])}–{_x(s['q3'])}", p["target"], p["verdict"],
                     _db(p.get("psnr_ours")), _db(p.get("psnr_peer")), _db(p.get("psnr_diff"), sign=True),
                     p["note"] or "—"])
        if s["verdict"].startswith(CROSSES):
            flags.append(f"- {CROSSES} {p['comparison']}, {_shape(p['shape'])}: the ratio ran from "
                         f"{_x(s['min'])} to {_x(s['max'])} over {s['rounds']} rounds, across its target ≥ {s['target']:g}×, so this run "
                         "does not settle whether the target is met.")
        threads.append([p["comparison"], p["threads"]["ours"], p["threads"]["peer"]])
        profiles.append(f"- {p['comparison']}, {_shape(p['shape'])}: {p['profile']}")
    return ["## Against the peers", "",
            "Batched (ours) against the peer looped per image, same images (`natural`, σ = 0.1, float32), one "
            "process. Each comparison runs in rounds of alternated calls (ours, peer, ours, peer) so both see the "
            "same load; a round's ratio = peer seconds / our seconds (medians within the round). The table gives "
            "the median ratio over rounds and its spread (min–max and interquartile range); verdict: *met* (every "
            f"round ≥ target), *missed* (every round below), *{CROSSES} crosses* (the spread straddles the target). "
            "PSNRs to two decimals, with ours − peer.", "",
            *_table(header, rows), "", *flags, *([""] if flags else []), *missing, *([""] if missing else []),
            "Threads during each comparison, as set and read back in the run (`--threads`: scipy.fft workers, "
            "BLAS/OpenMP through threadpoolctl, torch):", "",
            *_table(["comparison", "ours", "peer"], threads), "",
            "Where our time goes in each comparison (cProfile own time over 3 calls):", "", *profiles, ""]


def _common(r):
    s, f = r["sampler"], r["fourier"]
    rates = [[f"`{name}`", v] for name, v in s["rates"].items()]
    return ["## Sampler", "", f"EDM Heun, {s['steps']} steps ({s['nfe']} denoiser calls per sample), batch "
            f"{_shape(s['shape'])}, `unet` with random weights:", "", *_table(["denoiser", "samples/s"], rates), "",
            "## Fourier-diagonal filter against the copy bandwidth", "",
            f"Copy bandwidth (bytes read + written by one copy / time): {r['bandwidth']:.1f} GB/s. "
            f"`wiener-oracle` on {_shape(f['shape'])}: {_num(f['images_per_s'])} img/s = {f['gbps']:.2f} GB/s "
            f"effective (input read + output written), **{f['percent']:.0f}%** of the copy bandwidth "
            "(target on a GPU: ≥ 50%).", ""]


def _torch_cpu(r):
    """The table "torch-CPU against numpy, same denoiser" (:mod:`denoisebench.perf.torch_cpu`)."""
    rows, missing, flags = [], [], []
    for p in r.get("torch_cpu") or []:
        if "missing" in p:
            missing.append(f"- `{p['denoiser']}` {_shape(p['shape'])}: {p['missing']}")
            continue
        s = p["spread"]
        rows.append([f"`{p['denoiser']}`", _shape(p["shape"]), str(s["rounds"]), f"{p['numpy_ms']:.2f}",
                     f"{p['torch_ms']:.2f}", _x(s["median"]), f"{_x(s['min'])}–{_x(s['max'])}",
                     f"≤ {s['target']:g}×", s["verdict"], f"{p['max_abs_diff']:.1e}"])
        if s["verdict"].startswith(CROSSES):
            flags.append(f"- {CROSSES} `{p['denoiser']}`, {_shape(p['shape'])}: from {_x(s['min'])} to "
                         f"{_x(s['max'])} over {s['rounds']} rounds, across its target ≤ {s['target']:g}×.")
    if not rows and not missing:
        return []
    header = ["denoiser", "batch", "rounds", "numpy ms", "torch ms", "torch / numpy (median)", "min–max", "target",
              "verdict", "max abs Δ output"]
    return ["## torch-CPU against numpy, same denoiser", "",
            "One implementation through the array API on both: the same float32 batch (`gaussian`, σ = 0.1) as a "
            "numpy array and as a torch CPU tensor, calls alternated (numpy, torch, …) in rounds under the run's "
            "threads; a round's ratio = torch seconds / numpy seconds (medians within the round). Verdict: *met* "
            f"(every round ≤ target), *missed* (every round above), *{CROSSES} crosses*. The last column is the "
            "largest difference of the two outputs (float rounding).", "",
            *_table(header, rows), "", *flags, *([""] if flags else []), *missing, *([""] if missing else [])]


def cpu_markdown(r):
    """``reports/performance.md`` from the results of a CPU run."""
    return "\n".join(_head("Performance on the CPU", r) + _peers(r) + _throughput(r) + _torch_cpu(r) + _common(r))


def gpu_markdown(r):
    """``reports/gpu.md`` from the results of a GPU run."""
    amp = r.get("unet_amp") or []
    amp_rows = [[_shape(a["shape"]), a["fp32"], a["amp"], _ratio(a["amp"], a["fp32"])] for a in amp]
    amp_part = ["## U-Net inference with and without AMP", "", "bfloat16 autocast (`unet:amp=true`), random weights:",
                "", *_table(["batch", "float32 img/s", "AMP img/s", "speed-up"], amp_rows), ""] if amp_rows else []
    gpu = r["machine"].get("GPU", "unknown GPU")
    return "\n".join(_head(f"Performance on the GPU ({gpu})", r) + _throughput(r) + _common(r) + amp_part)


def gpu_placeholder(path="gpu.md"):
    """The GPU report (``path``) before any GPU run, written beside a CPU report: says so plainly."""
    folder = os.path.dirname(os.fspath(path)) or "."
    return "\n".join([
        "# Performance on the GPU", "",
        "**Not measured yet: no GPU was available where this CPU report was made.**", "",
        "On a machine with a CUDA device, run the GPU tests and regenerate this file:", "",
        "```bash", "pytest -m gpu", f"denoisebench perf --backend torch --device cuda --out {path}",
        f"denoisebench perf --backend cupy --out {os.path.join(folder, 'gpu-cupy.md')}", "```", "",
        "It reports throughput per denoiser at 64×64 and 256×256 batches, the Fourier-diagonal filter against the "
        "measured device-to-device copy bandwidth (target ≥ 50%), U-Net inference with and without AMP, and the "
        "sampler's images/s, with the card named.", ""])
