#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs everything luod needs to build, run and test on Debian 12 (run: build and run on
# Debian 12, 13 or sid). Idempotent and non-interactive: packages already present are left
# alone, so a second run is quick.
set -euo pipefail

build_packages=(
  cmake g++ make pkg-config
  libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev libinih-dev catch2 python3
)
run_packages=(dbus util-linux procps)
# systemd.pc (where the units go) moved from systemd to systemd-dev after Debian 12.
if [[ $(. /etc/os-release && echo "${VERSION_ID:-}") != 12 ]]; then
  build_packages+=(systemd-dev)
fi
test_packages=(
  systemd-container debootstrap groff-base
  clang libclang-rt-14-dev valgrind
  # tests/style (.clang-format, .clang-tidy); tests/build builds a second tree with ccache
  clang-format clang-tidy ccache
  debhelper lintian fakeroot rpm
  # dbus/check-polkit-policy.sh: xmllint and polkit's DTD (polkitd ships it)
  libxml2-utils polkitd
  # tests/vm: the LUO kernel built from Debian sid's linux-source-7.2 (downloaded, never
  # installed) and booted under QEMU with a busybox initramfs.
  qemu-system-x86 busybox-static cpio xz-utils flex bison bc perl libelf-dev libssl-dev rsync
)

want=("${build_packages[@]}" "${run_packages[@]}")
case "${1:-run}" in
  run) ;;
  test) want+=("${test_packages[@]}") ;;
  *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: installed ${missing[*]}"
fi
