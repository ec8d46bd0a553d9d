"""Write the tables of reports/unet.md: the U-Net targets, read from a `denoisebench run` store.

    python scripts/unet_targets.py reports/latest > reports/unet-tables.md

Every shipped variant (blind, centered, conditioned) found in the store is reported.  Targets:
gaussian within 0.3 dB of the exact MMSE at every σ; gmm within 0.5 dB of the optimal denoiser at
every σ (both for the best shipped variant, each variant shown); natural at or above the identity at
every σ, above every thresholding denoiser at σ ≥ 0.03, and within 0.5 dB of BM3D at σ = 0.1 (when
bm3d was run on natural at σ = 0.1 into the same store); and no shipped network below the identity
on any dataset at any σ.  Gaps are paired: 10 log10 of the MSE ratio on the same test images.
"""
import math
import sys

from denoisebench.report import _done
from denoisebench.store import Store

THRESHOLDING = ("wavelet", "wavelet-ti", "curvelet", "skimage-wavelet")
VARIANTS = {"blind": "unet", "centered": "unet:variant=centered", "conditioned": "unet:variant=conditioned"}


def db(a, b):
    """10 log10(a / b): how many dB the MSE ``a`` is above ``b``."""
    return 10 * math.log10(a / b)


def _table(head, rows):
    return ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def optimum_tables(by, name, target):
    """Gap (dB) of each variant to the exact optimum, σ by σ, and whether the best variant meets ``target``."""
    table = by.get(name, {})
    variants = [v for v in VARIANTS if VARIANTS[v] in table]
    opt = table.get("optimal", {})
    rows = []
    for s in sorted(opt):
        gaps = {v: db(table[VARIANTS[v]][s]["mse"], opt[s]["mse"]) for v in variants if s in table[VARIANTS[v]]}
        best = min(gaps.values()) if gaps else float("nan")
        rows.append([f"{s:g}", f"{opt[s]['mse']:.3e}"] + [f"{gaps[v]:+.2f}" if v in gaps else "—" for v in variants]
                    + [f"{best:+.2f}", "yes" if best <= target else "no"])
    head = ["σ", "optimal MSE"] + [f"{v} gap (dB)" for v in variants] + ["best", f"≤ {target} dB"]
    return [f"## {name}: gap to the exact optimum, target ≤ {target} dB (best shipped variant)", ""] + _table(head, rows) + [""]


def natural_table(nat):
    variants = [v for v in VARIANTS if VARIANTS[v] in nat]
    rows = []
    for s in sorted(nat.get("identity", {})):
        cands = {d: nat[d][s]["psnr"] for d in THRESHOLDING if d in nat and s in nat[d]}
        best = max(cands, key=cands.get)
        ident = nat["identity"][s]["psnr"]
        bm = nat.get("bm3d", {}).get(s)
        cells = [f"{s:g}", f"{ident:.2f}", f"{cands[best]:.2f} ({best})", "—" if bm is None else f"{bm['psnr']:.2f}"]
        for v in variants:
            u = nat[VARIANTS[v]][s]["psnr"]
            ok = [u >= ident] + ([u > cands[best]] if s >= 0.03 else []) + ([u >= bm["psnr"] - 0.5] if bm else [])
            cells.append(f"{u:.2f} {'✓' if all(ok) else '✗'}")
        rows.append(cells)
    head = ["σ", "identity", "best thresholding", "BM3D"] + [f"unet {v}" for v in variants]
    return (["## natural: PSNR (dB); ✓ = at or above the identity, above every thresholding denoiser at σ ≥ 0.03, "
             "and within 0.5 dB of BM3D where BM3D was run", ""] + _table(head, rows) + [""])


def identity_table(by):
    """Per dataset and variant: the smallest margin over the identity (dB of MSE) and where."""
    rows = []
    for name in sorted(by):
        ident = by[name].get("identity", {})
        for v, spec in VARIANTS.items():
            if spec not in by[name]:
                continue
            margins = {s: db(ident[s]["mse"], r["mse"]) for s, r in by[name][spec].items() if s in ident}
            worst = min(margins, key=margins.get)
            below = [f"{s:g}" for s in sorted(margins) if margins[s] < 0]
            rows.append([name, v, f"{margins[worst]:+.2f} at σ = {worst:g}", ", ".join(below) or "none"])
    return (["## Never worse than the identity: smallest margin (dB) of each shipped network over y ↦ y", ""]
            + _table(["dataset", "variant", "smallest margin", "σ below the identity"], rows) + [""])


def gain_table(by, variant, title):
    """``variant`` against the blind network, dB of MSE (positive: the variant is better), σ by σ."""
    sigmas = sorted({s for t in by.values() for s in t.get("unet", {})})
    rows = []
    for name in sorted(by):
        if VARIANTS[variant] not in by[name] or "unet" not in by[name]:
            continue
        a, b = by[name]["unet"], by[name][VARIANTS[variant]]
        rows.append([name] + [f"{db(a[s]['mse'], b[s]['mse']):+.2f}" if s in a and s in b else "—" for s in sigmas])
    return [title, ""] + _table(["dataset"] + [f"σ = {s:g}" for s in sigmas], rows) + [""]


def main(directory):
    with Store(directory, create=False) as store:
        rows = [r for r in _done(store.rows()) if r["dtype"] == "float32"]
    by = {}
    for r in rows:
        by.setdefault(r["dataset"], {}).setdefault(r["denoiser"], {})[r["sigma"]] = r
    n = next(r["n"] for r in rows if r["denoiser"] == "unet")
    out = ["# U-Net targets", "",
           f"Read from `{directory}/results.sqlite` (`denoisebench run`, n = {n} test images per cell, seed "
           f"{rows[0]['seed']}, 64×64, float32) by `python scripts/unet_targets.py {directory}`.", ""]
    out += optimum_tables(by, "gaussian", 0.3) + optimum_tables(by, "gmm", 0.5)
    if "natural" in by:
        out += natural_table(by["natural"])
    out += identity_table(by)
    out += gain_table(by, "conditioned", "## What conditioning buys: blind MSE over conditioned MSE (dB; + = conditioned better)")
    out += gain_table(by, "centered", "## What centering buys: blind MSE over centered MSE (dB; + = centered better)")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "reports/latest")
