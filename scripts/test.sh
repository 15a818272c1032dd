#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start, tests: installs what is needed, builds with warnings as errors, and runs
# the whole test suite in parallel. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
scripts/build.sh
cd build
ctest --output-on-failure -j"$(( $(nproc) * 2 ))" --timeout 900
