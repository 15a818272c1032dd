#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs luoctl's bash completion as bash does: COMP_WORDS/COMP_CWORD set, _luoctl called,
# COMPREPLY checked. Session names come from a stand-in luoctl that prints what
# 'luoctl --json sessions' prints, so no bus is needed.
#   bash-completion.sh COMPLETION_FILE
set -u
completion=$1
# shellcheck source=/dev/null
source "$completion" || { echo "FAIL: cannot source $completion"; exit 1; }
complete -p luoctl >/dev/null || { echo "FAIL: no completion registered for luoctl"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/luoctl" <<'STUB'
#!/bin/sh
[ "$1 $2" = "--json sessions" ] || exit 2
printf '[\n  {\n    "kind": "outgoing",\n    "name": "vm-1",\n    "owner_uid": 0\n  },\n'
printf '  {\n    "kind": "incoming",\n    "name": "cache",\n    "owner_uid": 1000\n  }\n]\n'
STUB
chmod +x "$work/luoctl"

failed=0
# expect "WORDS..." "EXPECTED REPLIES (sorted, space-separated)": the last word is completed.
expect()
{
    local line=$1 want=$2
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _luoctl
    local got
    got=$(printf "%s\n" "${COMPREPLY[@]}" | sort -u | xargs)
    if [[ $got == "$want" ]]; then
        echo "ok: '$line' -> $got"
    else
        echo "FAIL: '$line' -> '$got', expected '$want'"
        failed=1
    fi
}

expect "luoctl " "cancel check close inhibit inhibitors load metrics report session sessions status unload update"
expect "luoctl up" "update"
expect "luoctl in" "inhibit inhibitors"
expect "luoctl --" "--help --json --version"
expect "luoctl --json rep" "report"
expect "luoctl update --" "--dry-run --force --help --json --strategy --timeout --wait"
expect "luoctl update --strategy " "auto direct orderly systemd"
expect "luoctl update --strategy d" "direct"
expect "luoctl update --timeout " ""
expect "luoctl inhibit --mode " "block delay"
expect "luoctl load --no" "--no-liveupdate-flags"
expect "luoctl metrics --o" "--output"
expect "$work/luoctl session " "cache vm-1"
expect "$work/luoctl close v" "vm-1"
expect "$work/luoctl --json close c" "cache"
# luod not answering: no names, no error.
expect "/bin/false close " ""
# After 'inhibit ... --', the command's own words: a command first.
expect "luoctl inhibit --why x -- bas" "$(compgen -c -- bas | sort -u | xargs)"
exit $failed
