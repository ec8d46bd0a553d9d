"""Write the tables of reports/unet.md: the U-Net targets, read from a `denoisebench run` store.

    python scripts/unet_targets.py reports/latest > reports/unet.md

Targets: gaussian within 0.3 dB of the exact MMSE at every σ (goal 0.1 dB); gmm within 0.5 dB of
the optimal denoiser at every σ; natural above the best thresholding denoiser at every σ ≥ 0.05
and above BM3D at σ = 0.1 (when bm3d was run).
"""
import sys

from denoisebench.report import _done
from denoisebench.store import Store

THRESHOLDING = ("wavelet", "wavelet-ti", "curvelet", "skimage-wavelet")


def main(directory):
    with Store(directory, create=False) as store:
        rows = [r for r in _done(store.rows()) if r["dtype"] == "float32"]
    by = {}
    for r in rows:
        by.setdefault(r["dataset"], {}).setdefault(r["denoiser"], {})[r["sigma"]] = r
    out = ["# U-Net targets", "",
           f"Read from `{directory}/results.sqlite` (`denoisebench run`, n = {rows[0]['n']} test images, "
           f"seed {rows[0]['seed']}, 64×64) by `python scripts/unet_targets.py {directory}`.", ""]
    for name, target, ref in (("gaussian", 0.3, "optimum (exact MMSE)"), ("gmm", 0.5, "optimal denoiser")):
        unet = by.get(name, {}).get("unet", {})
        opt = by.get(name, {}).get("optimal", {})
        out += [f"## {name}: gap to the {ref}, target ≤ {target} dB", "",
                "| σ | unet MSE | optimal MSE | gap (dB) | unet − optimal on the same images (dB) | met |",
                "|---:|---:|---:|---:|---:|:-:|"]
        for s in sorted(unet):
            u, o = unet[s], opt.get(s)
            same = 10 * __import__("math").log10(u["mse"] / o["mse"]) if o else float("nan")
            gap = u["gap_db"] if name == "gaussian" else same
            out.append(f"| {s:g} | {u['mse']:.3e} | {u['optimal_mse']:.3e} | {u['gap_db']:+.2f} | {same:+.2f} | "
                       f"{'yes' if gap <= target else 'no'} |")
        out.append("")
    nat = by.get("natural", {})
    if "unet" in nat:
        out += ["## natural: PSNR (dB) against the best thresholding denoiser (σ ≥ 0.05) and BM3D (σ = 0.1)", "",
                "| σ | unet | best thresholding | which | margin (dB) | BM3D | met |", "|---:|---:|---:|---|---:|---:|:-:|"]
        for s in sorted(nat["unet"]):
            cands = {d: nat[d][s]["psnr"] for d in THRESHOLDING if d in nat and s in nat[d]}
            best = max(cands, key=cands.get)
            u = nat["unet"][s]["psnr"]
            bm = nat.get("bm3d", {}).get(s)
            met = (u > cands[best] if s >= 0.05 else None)
            if bm is not None and abs(s - 0.1) < 1e-9:
                met = met and u > bm["psnr"]
            bm_text = "—" if bm is None else f"{bm['psnr']:.2f}"
            out.append(f"| {s:g} | {u:.2f} | {cands[best]:.2f} | {best} | {u - cands[best]:+.2f} | "
                       f"{bm_text} | {'—' if met is None else ('yes' if met else 'no')} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "reports/latest")
