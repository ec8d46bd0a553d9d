#!/usr/bin/env bash
# Regenerate the committed reports under reports/ — the ONLY way they are rewritten (no command writes
# there by default). Each entry: the command, and its budget measured on the 2-core CPU machine.
#
#   scripts/regenerate_reports.sh            # the fast ones (latest, decay, sample, sampler-error): ~6 min
#   scripts/regenerate_reports.sh latest     # one report by name
#   scripts/regenerate_reports.sh all        # everything CPU-only, generalization and published included (~35 min)
#
# reports/unet.md is analysis written around the tables of `python scripts/unet_targets.py reports/latest`.
# Reports that need a GPU (reports/gpu.md, reports/gpu-cupy.md) are regenerated on a GPU machine with
# the commands written at their top. Shipped weights are retrained by the commands in
# reports/training/README.md (20-40 min each), never by this script.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A BUDGET=(
  [latest]="2 min"        # every dataset × every default denoiser × 9 σ, 64 images
  [decay]="3 min"
  [sample]="2 min"
  [sampler-error]="5 s"   # closed form, no sampling
  [performance]="3 min"
  [generalization]="20 min (--jobs 2)"
  [published]="6 min"     # 315 s alone, 553 s sharing the 2 cores; bm3d (CBM3D) is 4/5 of it
)

latest() {  # --fresh: every cell recomputed by this code, nothing resumed from an older store
  denoisebench run --fresh --out reports/latest
}
decay() {
  rm -f reports/decay/results.sqlite  # every cell recomputed by this code
  denoisebench decay --n 16 --out reports/decay
}
sample() {
  denoisebench sample --dataset gaussian --denoisers optimal wiener wavelet wavelet-ti curvelet unet empirical \
    --sigma-max 1 --steps 40 --out reports/sample/gaussian
  denoisebench sample --dataset cartoon --denoisers wiener wavelet wavelet-ti curvelet unet empirical \
    --sigma-max 1 --steps 40 --out reports/sample/cartoon
}
sampler-error() {
  denoisebench sampler-error --out reports/sampler-error
}
performance() {
  denoisebench perf --backend numpy --out reports/performance.md
}
generalization() {
  denoisebench generalization --dataset cartoon:size=16 --sizes 1,4,16,64,256,1024,4096 --steps 3000 \
    --width 16 --batch 32 --n 16 --seed 0 --jobs 2 --out reports/generalization
}
published() {  # whole colour photographs that ship offline, σ = 15, 25, 50 (/255), the published 8-bit protocol
  python scripts/export_images.py /tmp/dnb-published-images
  denoisebench run --datasets folder:path=/tmp/dnb-published-images,color=rgb,crop=0 \
    --denoisers bm3d wavelet wavelet-ti curvelet skimage-wavelet unet identity \
    --sigmas 15/255,25/255,50/255 --protocol 8bit --fresh --out reports/published
}

FAST=(latest decay sample sampler-error)
ALL=(latest decay sample sampler-error performance generalization published)
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
