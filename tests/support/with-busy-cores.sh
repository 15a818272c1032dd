#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command while every core is kept busy by a spinning process, as on a loaded CI
# machine: the README's commands must work there too. Exits with the command's status.
# Usage: with-busy-cores.sh COMMAND [ARGS...]
set -euo pipefail
spinners=()
stop_spinners() { ((${#spinners[@]})) && kill "${spinners[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_spinners EXIT
for _ in $(seq "$(nproc)"); do
    bash -c 'while :; do :; done' &
    spinners+=($!)
done
status=0
"$@" || status=$?
exit "$status"
