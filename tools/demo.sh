#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install the dependencies, build the release
# binary (build/release/keel), and run one seeded simulation, printing its summary.
# Usage: tools/demo.sh [SEED]   (default 42)
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-42}
bash tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target keel
./build/release/keel sim --seed "$seed"
