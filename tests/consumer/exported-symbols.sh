#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Usage: exported-symbols.sh LIBRARY SYMBOLS_FILE
# Fails unless the symbols LIBRARY exports (defined, dynamic, with their version) are exactly
# the symbols SYMBOLS_FILE lists (a Debian symbols file with (c++) entries, demangled). The
# export list is libluo/libluo.map; after a deliberate change to the API, regenerate the
# Debian file with: exported-symbols.sh --print LIBRARY.
set -eu
print=false
if [ "$1" = "--print" ]; then print=true; shift; fi
library=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "<demangled name>@<version>", one a line; weak symbols (emitted inline, present or not as
# the compiler chooses) are marked so that the Debian file can tag them (optional).
nm --dynamic --defined-only --with-symbol-versions "$library" |
    awk '{ name = $3; sub(/@+/, "@", name); print $2 " " name }' |
    while read -r type name; do
        symbol=${name%@*}
        version=${name##*@}
        demangled=$(printf '%s\n' "$symbol" | c++filt)
        tag="c++"
        case $type in [WVu]) tag="$tag|optional" ;; esac
        # std::span's dynamic extent is SIZE_MAX, spelled out: such names exist on 64 bits only
        case $demangled in *18446744073709551615ul*) tag="$tag|arch-bits=64" ;; esac
        if [ "$symbol" = "$version" ]; then  # the version node itself
            printf '%s@%s\n' "$symbol" "$version"
        else
            printf '(%s)"%s@%s"\n' "$tag" "$demangled" "$version"
        fi
    done |
    # A (c++) entry matches every symbol of that demangled name (a constructor's or a
    # destructor's variants): one entry each, strong if any variant is.
    awk '{ key = $0; sub(/^\([^)]*\)/, "", key); if (!(key in line) || $0 !~ /optional/) line[key] = $0 }
         END { for (k in line) print line[k] }' |
    LC_ALL=C sort > "$work/exported"

if $print; then
    sed 's/^/ /; s/$/ 0.1.0/' "$work/exported"
    exit 0
fi
symbols_file=$2
# Entries: ' (tags)"name@version" minver' or ' name@version minver'; the tags are compared too.
grep '^ ' "$symbols_file" | sed -E 's/^ //; s/ [^ ]+$//' | LC_ALL=C sort > "$work/listed"
if ! diff -u "$work/listed" "$work/exported"; then
    echo "libluo's exports differ from $symbols_file ('-' listed only, '+' exported only)." >&2
    echo "An intended API change: update libluo/libluo.map and the symbols file (--print)." >&2
    exit 1
fi
echo "ok: $(wc -l < "$work/exported") exported symbols, as listed"
