#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Keeps luoctl's documentation in step with the binary: every verb 'luoctl --help' lists and
# every option of each verb's --help appear in the man page and in the bash and zsh
# completions, and those name no verb the binary does not have.
#   in-step.sh LUOCTL MAN_PAGE BASH_COMPLETION ZSH_COMPLETION
set -u
luoctl=$1 man=$2 bash_completion=$3 zsh_completion=$4
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# The verbs: the lines of the "Verbs:" block that start with two spaces and a word.
mapfile -t verbs < <("$luoctl" --help | sed -n '/^Verbs:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
((${#verbs[@]} > 5)) || { echo "FAIL: cannot read the verbs from '$luoctl --help'"; exit 1; }
echo "verbs: ${verbs[*]}"

bash_verbs=$(sed -n 's/^ *local verbs="\(.*\)"$/\1/p' "$bash_completion")
zsh_verbs=$(sed -n "s/^ *'\([a-z][a-z-]*\):.*/\1/p" "$zsh_completion" | xargs)
for verb in "${verbs[@]}"; do
    # A verb is documented as a tagged paragraph of its own: ".TP" then ".B verb ...".
    grep -A1 '^\.TP' "$man" | grep -q -e "^\.BI\{0,1\} $verb\( \|$\)" -e "^\.BI\{0,1\} \"$verb[ \"]" ||
        fail "verb '$verb' has no entry in $(basename "$man")"
    [[ " $bash_verbs " == *" $verb "* ]] || fail "verb '$verb' is not in the bash completion"
    [[ " $zsh_verbs " == *" $verb "* ]] || fail "verb '$verb' is not in the zsh completion"
    mapfile -t options < <("$luoctl" "$verb" --help | sed -n 's/^  \(-h,\)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' |
                           grep -v -x -e --help -e --json)
    for option in "${options[@]}"; do
        man_option=${option//-/\\-}
        grep -q -F -- "$man_option" "$man" || fail "option '$verb $option' is not in $(basename "$man")"
        grep -q -F -- "$option" "$bash_completion" || fail "option '$verb $option' is not in the bash completion"
        grep -q -F -- "$option" "$zsh_completion" || fail "option '$verb $option' is not in the zsh completion"
    done
    echo "ok: $verb ${options[*]}"
done
for verb in $bash_verbs; do
    [[ " ${verbs[*]} " == *" $verb "* ]] || fail "the bash completion offers '$verb', which luoctl does not have"
done
for verb in $zsh_verbs; do
    [[ " ${verbs[*]} " == *" $verb "* ]] || fail "the zsh completion offers '$verb', which luoctl does not have"
done
# Exit statuses: each one --help lists is documented in the man page's EXIT STATUS.
mapfile -t codes < <("$luoctl" --help | sed -n '/^Exit status:/,/^[^ E]/p' | sed -n 's/^  \([0-9][0-9]*\)  .*/\1/p')
for code in "${codes[@]}"; do
    sed -n '/^\.SH "EXIT STATUS"/,/^\.SH/p' "$man" | grep -q -x "\.B $code" ||
        fail "exit status $code is not in the man page's EXIT STATUS"
done
echo "exit statuses: ${codes[*]}"
exit $failed
