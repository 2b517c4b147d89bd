#!/usr/bin/env bash
# Installs the dependencies, builds everything (release preset: optimised, assertions on) and
# runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release --output-on-failure -j 2
