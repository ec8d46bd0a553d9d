"""Write reports/training/README.md from the shipped weight files' own metadata and the wall times
logged by the training loop (reports/training/walltimes.txt: dataset|command|seconds|exit code).

    python scripts/training_report.py > reports/training/README.md
"""
import json
import os

from safetensors import safe_open

WEIGHTS = os.path.join("denoisebench", "weights")


def main():
    times = {}
    path = os.path.join("reports", "training", "walltimes.txt")
    if os.path.exists(path):
        for line in open(path):
            name, command, seconds, rc = line.rstrip("\n").split("|")
            times[name] = (command, int(seconds), int(rc))
    lines = ["# Shipped U-Net weights", "",
             "Each file was trained by the project's own `denoisebench train` on this project's 2-core CPU "
             "machine (no GPU), seed 0; wall time as measured around the command (other work shared the "
             "machine at times, so it is an upper bound). `gmm` with `natural`, then `cartoon` with `disks`, were "
             "trained side by side, one torch thread each (`OMP_NUM_THREADS=1`), so each took about twice its "
             "time alone; `gmm` in two sittings "
             "(stopped at step 668, resumed from its step-500 checkpoint). Alone with both cores, 5000 steps "
             "take about 20 minutes (4.2–4.5 steps/s measured here).", "",
             "| dataset | command | wall time | steps | size | validation PSNR |", "|---|---|---:|---:|---:|---:|"]
    for file in sorted(os.listdir(WEIGHTS)):
        if not file.endswith(".safetensors") or ".ckpt." in file:
            continue
        name = file[: -len(".safetensors")]
        with safe_open(os.path.join(WEIGHTS, file), "pt") as f:
            meta = f.metadata()
        training = json.loads(meta.get("training", "{}"))
        result = training.get("result", {})
        default = (f"denoisebench train --dataset {training.get('dataset')} --n-train {training.get('n_train')} "
                   f"--steps {training.get('steps')} --patch {training.get('patch')} --width {training.get('width')} "
                   f"--batch {training.get('batch')} --seed {training.get('seed')} --out {WEIGHTS}/{file}", None, 0)
        command, seconds, _ = times.get(name, default)
        seconds = seconds if seconds is not None else None
        inside = result.get("seconds")
        wall = (f"{seconds // 60}:{seconds % 60:02d}" if seconds is not None
                else f"{int(inside) // 60}:{int(inside) % 60:02d} (training loop)" if inside else "?")
        psnr = result.get("val_psnr")
        size_mb = os.path.getsize(os.path.join(WEIGHTS, file)) / 1e6
        lines.append(f"| {name} | `{command}` | {wall} | {training.get('steps', '?')} | {size_mb:.2f} MB | "
                     f"{'?' if psnr is None else f'{float(psnr):.2f} dB'} |")
    print("\n".join(lines + [""]))


if __name__ == "__main__":
    main()
