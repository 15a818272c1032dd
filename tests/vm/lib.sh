# SPDX-License-Identifier: Apache-2.0
# Shared by the VM scripts (sourced): messages, the cache under /var/cache/luod-test and its
# atomic entries, the Debian mirror of this machine's apt configuration.
#   vm_tag=... ; source lib.sh

vm_start=$(date +%s.%N)
vm_elapsed() { awk -v s="$vm_start" -v n="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", n - s }'; }
say() { echo "${vm_tag:-vm} [$(vm_elapsed)] $*" >&2; }
fail() { echo "${vm_tag:-vm} [$(vm_elapsed)] FAIL: $*" >&2; exit 1; }

vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm_cache=${LUOD_TEST_CACHE:-/var/cache/luod-test}

# The machine's Debian mirror: the first URIs of a deb822 source, else the first "deb" line,
# never a host name of our own choosing.
debian_mirror() {
    local f uri=
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        uri=$(awk 'tolower($1) == "uris:" && $2 !~ /security/ { print $2; exit }' "$f")
        [[ -n $uri ]] && break
    done
    if [[ -z $uri ]]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
              awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($i !~ /security/) { print $i; exit } } }')
    fi
    [[ -n $uri ]] || fail "no Debian mirror in /etc/apt/sources.list{,.d}: cannot download from sid"
    echo "${uri%/}"
}

# Cleanup on every exit path: temporary paths and hooks registered by the scripts.
vm_cleanup_paths=()
vm_cleanup_hooks=()
vm_cleanup() {
    local hook
    for hook in "${vm_cleanup_hooks[@]}"; do "$hook" || true; done
    ((${#vm_cleanup_paths[@]})) && rm -rf "${vm_cleanup_paths[@]}"
    true
}
trap vm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cache_entry NAME FUNCTION [ARGS...]: makes $vm_cache/NAME once and sets $cache_path to it.
# FUNCTION fills the temporary directory given as its first argument; the entry appears by
# rename only when FUNCTION succeeded. A lock serialises concurrent runs; what an interrupted
# run left (its lock died with it) is removed by the next one.
cache_entry() {
    local name=$1 build=$2 lock tmp
    shift 2
    cache_path=$vm_cache/$name
    [[ -d $cache_path ]] && return 0
    mkdir -p "$vm_cache"
    exec {lock}>"$vm_cache/$name.lock"
    flock "$lock"
    if [[ ! -d $cache_path ]]; then
        rm -rf "$vm_cache/$name".tmp.*
        tmp=$(mktemp -d "$vm_cache/$name.tmp.XXXXXX")
        vm_cleanup_paths+=("$tmp")
        # Not in a condition: errexit must stay in force inside FUNCTION (a failure exits and
        # the EXIT trap removes $tmp).
        "$build" "$tmp" "$@"
        chmod 0755 "$tmp"
        mv -T "$tmp" "$cache_path"
    fi
    flock -u "$lock"
    exec {lock}>&-
}
