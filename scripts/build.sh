#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds luod in ./build (warnings are errors, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DLUO_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j"$(nproc)"
