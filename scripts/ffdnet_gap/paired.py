"""Per-image paired comparison on the eval grid's own images and noise (natural, n=32, seed 0, float):
recomputes each cell as denoisebench/grid/runner.py does, checks the mean MSE against the store,
and gives bootstrap standard errors of network - FFDNet (dB, mean-MSE PSNR and mean per-image PSNR)."""
import os
STUDY = os.environ.get("STUDY", "/work/study")  # the study's work folder (networks, stores, json)
LOW = os.environ.get("LOW", "/work/natural-cond-low.safetensors")  # the previous sigma <= 1 expert
import json, sys, numpy as np
from denoisebench.registry import make_dataset, make_denoiser
from denoisebench.noise import add_noise
from denoisebench import load_results
nets = sys.argv[1:]
sigmas = [15/255, 25/255, 50/255]
x = make_dataset("natural").sample(32, 0, split="test").astype(np.float32)
store = load_results(f"{STUDY}/eval")
def per_image(spec, s):
    d = make_denoiser(spec)
    y = add_noise(x, s, 0, start=0)
    xh = np.asarray(d(y, s))
    return ((xh.astype(np.float64) - x) ** 2).mean(axis=tuple(range(1, x.ndim)))
rng = np.random.default_rng(0); B = 4000
idx = rng.integers(0, 32, (B, 32))
out = {}
per = {}
for s in sigmas:
    ref = per_image("ffdnet", s)
    for spec in ["ffdnet"] + nets:
        m = ref if spec == "ffdnet" else per_image(spec, s)
        per[f"{spec}|{s}"] = m
        row = store[(store.denoiser == spec) & np.isclose(store.sigma, s)]
        stored = float(row.mse.iloc[0]) if len(row) else float("nan")
        g_mse = 10 * np.log10(ref.mean() / m.mean())
        g_img = np.mean(10 * np.log10(ref / m))
        bs_mse = 10 * np.log10(ref[idx].mean(1) / m[idx].mean(1)).std()
        bs_img = (10 * np.log10(ref / m))[idx].mean(1).std()
        out[f"{spec}|{s}"] = dict(mse=m.mean(), stored_mse=stored, gap_mse=g_mse, se_mse=bs_mse, gap_img=g_img, se_img=bs_img)
        print(f"σ={s*255:.0f}/255 {spec[:70]:70s} mse {m.mean():.6g} (store {stored:.6g})  gap(meanMSE) {g_mse:+.3f}±{bs_mse:.3f}  gap(per-image) {g_img:+.3f}±{bs_img:.3f}", flush=True)
json.dump({k: v.tolist() for k, v in per.items()}, open(f"{STUDY}/paired_per_image.json", "w")); json.dump(out, open(f"{STUDY}/paired.json", "w"), indent=1)
