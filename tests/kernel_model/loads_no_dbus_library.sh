#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Usage: loads_no_dbus_library.sh FILE...
# Fails when a FILE (program or shared object) loads, directly or through another library,
# a D-Bus library: sdbus-c++, libsystemd (sd-bus), libdbus or GLib's GIO. The model stands in
# for the kernel and links only libluo's device layer (libluo/CMakeLists.txt).
set -eu
status=0
for file in "$@"; do
    libraries=$(ldd "$file") || { echo "ldd $file failed" >&2; exit 1; }
    found=$(printf '%s\n' "$libraries" | grep -E 'libsdbus-c\+\+|libsystemd|libdbus-1|libgio-2' || true)
    if [ -n "$found" ]; then
        echo "$file loads a D-Bus library:" >&2
        printf '%s\n' "$found" >&2
        status=1
    fi
done
exit $status
