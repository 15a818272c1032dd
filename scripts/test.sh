#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start, tests: installs what is needed, builds with warnings as errors, and runs
# the whole test suite in parallel. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
# The Debian 13 and sid roots of the distro tests (tests/distros, LUO_DISTRO_SUITES) download
# while the tree builds: debootstrap and apt mostly wait on the network. Their ctest fixtures
# then find them in the cache, or wait on its lock; a failure here is theirs to report.
for suite in trixie sid; do
    tests/distros/build-in-root.sh "$suite" --root-only >/dev/null 2>&1 &
done
scripts/build.sh
cd build
ctest --output-on-failure -j"$(( $(nproc) * 2 ))" --timeout 900
