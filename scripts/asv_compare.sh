#!/usr/bin/env bash
# Benchmark two commits with asv in the CURRENT environment, then compare them.
#
#   scripts/asv_compare.sh A B [asv run options...]
#   scripts/asv_compare.sh HEAD~1 HEAD --bench Denoise.time_denoise --quick
#
# `asv continuous` cannot do this with `environment_type: existing` (it would have to build and
# install each commit).  This script does what it would, without installing anything:
#   1. for each of A and B, `git worktree add` the commit into a temporary directory;
#   2. run `asv run --python=same --set-commit-hash=<sha>` with ASV_PYTHONPATH pointing at that
#      worktree, so the benchmarks `import denoisebench` from the commit's sources while every
#      dependency (numpy, torch, pywt, ...) comes from the current environment as it is;
#   3. `asv compare A B` (the asv run options are passed to both runs; the benchmark suite is
#      the current checkout's `benchmarks/`, as with any asv run).
# It runs `asv machine --yes` first if this machine has no ~/.asv-machine.json.  A compiled
# extension or a new dependency in a commit is not built: such commits need a real install.
set -euo pipefail

usage() { echo "usage: $0 A B [asv run options...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
a=$(git rev-parse --verify --quiet "$1^{commit}") || { echo "$0: unknown commit $1" >&2; exit 2; }
b=$(git rev-parse --verify --quiet "$2^{commit}") || { echo "$0: unknown commit $2" >&2; exit 2; }
shift 2

[ -f "$HOME/.asv-machine.json" ] || asv machine --yes

tmp=$(mktemp -d "${TMPDIR:-/tmp}/asv-compare.XXXXXX")
cleanup() {
    for wt in "$tmp"/*/; do
        [ -d "$wt" ] && git worktree remove --force "$wt" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
    git worktree prune
}
trap cleanup EXIT

for sha in "$a" "$b"; do
    wt="$tmp/$sha"
    [ -d "$wt" ] && continue
    git worktree add --detach --quiet "$wt" "$sha"
    found=$(cd "$tmp" && PYTHONPATH="$wt" python -c "import denoisebench, os; print(os.path.dirname(os.path.dirname(denoisebench.__file__)))")
    if [ "$(cd "$found" && pwd -P)" != "$(cd "$wt" && pwd -P)" ]; then
        echo "$0: PYTHONPATH=$wt imports denoisebench from $found, not from the worktree" >&2
        exit 1
    fi
    echo "== asv run for $sha (denoisebench from $wt)"
    ASV_PYTHONPATH="$wt" asv run --python=same --set-commit-hash="$sha" "$@"
done

asv compare "$a" "$b"
