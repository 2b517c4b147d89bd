#!/usr/bin/env bash
# Checks that the simulator catches protocol bugs of the kinds real VSR implementations have
# shipped: each patch in tests/planted-bugs/ plants one bug in core/vsr; a seed sweep of the
# patched keel must fail (a safety, liveness or assertion failure) within the seed budget.
#
#   bash tools/planted-bugs.sh [--seeds 1..1000] [--jobs J] [NAME ...]
#
# Works in a scratch git worktree of HEAD (the checkout is never patched) with its own build
# directory; ccache makes each bug an incremental build of the files it touches. Exits 0 when
# every bug is caught, 1 when one is not, 2 on a usage or build error. Prints, per bug, the first
# failing seed, how many seeds failed and how long the sweep ran.
set -euo pipefail

seeds="1..1000"
jobs="$(nproc)"
names=()
while (($#)); do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "planted-bugs: unknown flag $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done

repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
patches="$repo/tests/planted-bugs"
if ((${#names[@]} == 0)); then
  for patch in "$patches"/*.patch; do names+=("$(basename "$patch" .patch)"); done
fi
for name in "${names[@]}"; do
  [[ -f "$patches/$name.patch" ]] || { echo "planted-bugs: no patch $name" >&2; exit 2; }
done

scratch="$(mktemp -d /tmp/keel-planted.XXXXXX)"
cleanup() {
  git -C "$repo" worktree remove --force "$scratch/src" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT
git -C "$repo" worktree add --detach "$scratch/src" HEAD >/dev/null
# Same cache entries whatever the folder: only the patched files compile again.
export CCACHE_BASEDIR="$scratch/src" CCACHE_NOHASHDIR=1
cmake -S "$scratch/src" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DKEEL_BENCH=OFF >"$scratch/configure.log" 2>&1 ||
  { cat "$scratch/configure.log" >&2; exit 2; }

missed=0
for name in "${names[@]}"; do
  git -C "$scratch/src" checkout --quiet -- .
  git -C "$scratch/src" apply "$patches/$name.patch" ||
    { echo "planted-bugs: $name does not apply to HEAD" >&2; exit 2; }
  echo "planted-bugs: $name: building"
  cmake --build "$scratch/build" --target keel -j "$jobs" >"$scratch/build.log" 2>&1 ||
    { tail -30 "$scratch/build.log" >&2; exit 2; }
  start=$SECONDS
  set +e
  "$scratch/build/keel" sweep --protocol vsr --seeds "$seeds" --jobs "$jobs" \
    --out "$scratch/out-$name" >"$scratch/sweep-$name.log" 2>&1
  status=$?
  set -e
  if ((status == 0)); then
    echo "planted-bugs: $name: MISSED ($seeds passed, $((SECONDS - start)) s)"
    missed=1
  elif ((status == 2)); then
    cat "$scratch/sweep-$name.log" >&2
    exit 2
  else
    first="$(grep -m1 -o 'seed [0-9]* FAILED ([a-z_]*)' "$scratch/sweep-$name.log" || true)"
    summary="$(grep -m1 -o '[0-9]* passed, [0-9]* failed' "$scratch/sweep-$name.log" || true)"
    kinds="$(grep -o 'FAILED ([a-z_]*)' "$scratch/sweep-$name.log" | sort | uniq -c |
      awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $3}' | tr -d '()')"
    echo "planted-bugs: $name: caught: $summary ($kinds); first: $first ($((SECONDS - start)) s)"
  fi
done
git -C "$scratch/src" checkout --quiet -- .
exit "$missed"
