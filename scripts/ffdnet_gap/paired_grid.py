"""Paired cont3000 - shipped on the grid's own images and noise (natural, n=64, seed 0): bootstrap SE.

    python paired_grid.py [grid7|grid]   # the store under STUDY: 7 sigma, or the default grid's 9
"""
import os
import sys
STUDY = os.environ.get("STUDY", "/work/study")  # the study's work folder (networks, stores, json)
LOW = os.environ.get("LOW", "/work/natural-cond-low.safetensors")  # the previous sigma <= 1 expert
import json, numpy as np
from denoisebench.registry import make_dataset, make_denoiser
from denoisebench.noise import add_noise
from denoisebench import load_results
A = "unet:variant=conditioned,weights=" + LOW
B = f"unet:variant=conditioned,weights={STUDY}/cont3000.safetensors"
x = make_dataset("natural").sample(64, 0, split="test").astype(np.float32)
grid = sys.argv[1] if len(sys.argv) > 1 else "grid7"
st = load_results(f"{STUDY}/{grid}")
rng = np.random.default_rng(0); idx = rng.integers(0, 64, (4000, 64))
da, db = make_denoiser(A), make_denoiser(B)
res = {}
for s in sorted(set(st.sigma)):  # every sigma of that store
    y = add_noise(x, s, 0, start=0)
    ma = ((np.asarray(da(y, s)).astype(np.float64) - x) ** 2).mean(axis=(1, 2, 3))
    mb = ((np.asarray(db(y, s)).astype(np.float64) - x) ** 2).mean(axis=(1, 2, 3))
    chk = float(st[(st.denoiser == A) & np.isclose(st.sigma, s)].mse.iloc[0])
    g = 10 * np.log10(ma.mean() / mb.mean()); se = (10 * np.log10(ma[idx].mean(1) / mb[idx].mean(1))).std()
    gi = np.mean(10 * np.log10(ma / mb)); sei = (10 * np.log10(ma / mb))[idx].mean(1).std()
    win = int((mb < ma).sum())
    res[s] = dict(gap=g, se=se, gap_img=gi, se_img=sei, better=win)
    print(f"σ={s}: shipped mse {ma.mean():.6g} (store {chk:.6g}); cont3000 - shipped {g:+.3f}±{se:.3f} dB (mean MSE), {gi:+.3f}±{sei:.3f} (per-image); cont3000 better on {win}/64", flush=True)
json.dump(res, open(f"{STUDY}/paired_{grid}.json", "w"), indent=1)
