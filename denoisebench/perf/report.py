"""Markdown of ``denoisebench perf``: ``reports/performance.md`` (CPU) and ``reports/gpu.md``.

Pure functions of the results dict built by :func:`denoisebench.perf.measure.run_perf`.

References
----------
GitHub Flavored Markdown tables (https://github.github.com/gfm/#tables-extension-).
"""
from __future__ import annotations

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


def _peers(r):
    header = ["comparison", "batch", "ours img/s", "peer img/s", "ratio", "target", "PSNR ours (dB)",
              "PSNR peer (dB)", "notes"]
    rows, missing, profiles = [], [], []
    for p in r["peers"]:
        if "missing" in p:
            missing.append(f"- {p['comparison']}: {p['missing']}")
            continue
        ratio = f"{p['ratio']:.1f}×"
        rows.append([p["comparison"], _shape(p["shape"]), p["ours"], p["peer"], ratio, p["target"],
                     p.get("psnr_ours"), p.get("psnr_peer"), p["note"] or "—"])
        profiles.append(f"- {p['comparison']}, {_shape(p['shape'])}: {p['profile']}")
    return ["## Against the peers", "",
            "Batched (ours) against the peer looped per image, same images (`natural`, σ = 0.1, float32), one "
            "process, timed in alternation (ours, peer, ours, peer, …) so both see the same load; the peer with "
            "one worker, ours on the threads stated under Machine. Ratio = peer seconds / our seconds for the "
            "same batch (medians).", "",
            *_table(header, rows), "", *missing, *([""] if missing else []),
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


def cpu_markdown(r):
    """``reports/performance.md`` from the results of a CPU run."""
    return "\n".join(_head("Performance on the CPU", r) + _peers(r) + _throughput(r) + _common(r))


def gpu_markdown(r):
    """``reports/gpu.md`` from the results of a GPU run."""
    amp = r.get("unet_amp") or []
    amp_rows = [[_shape(a["shape"]), a["fp32"], a["amp"], _ratio(a["amp"], a["fp32"])] for a in amp]
    amp_part = ["## U-Net inference with and without AMP", "", "bfloat16 autocast (`unet:amp=true`), random weights:",
                "", *_table(["batch", "float32 img/s", "AMP img/s", "speed-up"], amp_rows), ""] if amp_rows else []
    gpu = r["machine"].get("GPU", "unknown GPU")
    return "\n".join(_head(f"Performance on the GPU ({gpu})", r) + _throughput(r) + _common(r) + amp_part)


def gpu_placeholder():
    """``reports/gpu.md`` before any GPU run: says so plainly."""
    return "\n".join([
        "# Performance on the GPU", "",
        "**Not measured yet: no GPU was available where the reports were made.**", "",
        "On a machine with a CUDA device, run the GPU tests and regenerate this file:", "",
        "```bash", "pytest -m gpu", "denoisebench perf --backend torch --device cuda   # writes reports/gpu.md",
        "denoisebench perf --backend cupy --out reports/gpu-cupy.md", "```", "",
        "It reports throughput per denoiser at 64×64 and 256×256 batches, the Fourier-diagonal filter against the "
        "measured device-to-device copy bandwidth (target ≥ 50%), U-Net inference with and without AMP, and the "
        "sampler's images/s, with the card named.", ""])
