"""Validation PSNR of weight files on the validation set that `denoisebench train --seed S` builds
(same construction as denoisebench/networks/train.py: images n_train..n_train+n_val-1 of
natural.sample(n_train+n_val, S, split='train'), VAL_SIGMAS cycled, add_noise(..., S))."""
import os
STUDY = os.environ.get("STUDY", "/work/study")  # the study's work folder (networks, stores, json)
LOW = os.environ.get("LOW", "/work/natural-cond-low.safetensors")  # the previous sigma <= 1 expert
import sys, json, numpy as np, torch
torch.set_num_threads(1)
from denoisebench.registry import make_dataset
from denoisebench.noise import add_noise
from denoisebench.networks.train import VAL_SIGMAS, _validate
from denoisebench.networks.weights_io import load_weights
seeds = [int(s) for s in sys.argv[1].split(",")]
files = sys.argv[2:]
ds = make_dataset("natural")
out = {}
for S in seeds:
    data = ds.sample(2048 + 16, S, split="train")
    vs = np.resize(np.asarray(VAL_SIGMAS), 16)
    x = torch.from_numpy(data[2048:]); y = torch.from_numpy(add_noise(data[2048:], vs, S))
    s = torch.as_tensor(vs, dtype=torch.float32)
    for f in files:
        m, _ = load_weights(f)
        v = _validate(m, x, y, s)
        out[f"{f} seed{S}"] = v
        print(f"seed {S}  {f}  val_psnr {v:.4f}", flush=True)
json.dump(out, open(f"{STUDY}/valcheck_{sys.argv[1].replace(',','_')}_{len(files)}.json", "w"), indent=1)
