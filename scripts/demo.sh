#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start, main job: installs what is needed, builds, and runs a live update on the
# kernel model that you can watch. The model plays the kernel and starts the demo as its
# init at every boot: boot 1 preserves a memfd and kexecs, boot 2 reads it back.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
scripts/build.sh

root=$(mktemp -d /tmp/luo-demo.XXXXXX)
build/kernel/luo-kernel-model --root "$root" --init "$PWD/build/examples/kexec-demo/luo-kexec-demo" &
model=$!
trap 'kill "$model" 2>/dev/null || true; wait "$model" 2>/dev/null || true; rm -rf "$root"' EXIT

for _ in $(seq 600); do
    [[ -e $root/run/luo-kexec-demo.done ]] && break
    kill -0 "$model" 2>/dev/null || break
    sleep 0.1
done
if [[ ! -e $root/run/luo-kexec-demo.done ]]; then
    echo "demo: the live update did not complete" >&2
    exit 1
fi
echo "demo: done (model root was $root)"
