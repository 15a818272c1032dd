# SPDX-License-Identifier: Apache-2.0
# bash completion for luoctl(1): verbs, their options, option values, and session names
# (asked of luod through 'luoctl sessions --json'). Installed as
# /usr/share/bash-completion/completions/luoctl. tests/luoctl/in-step.sh keeps the verbs and
# options here in step with 'luoctl --help'; tests/luoctl/bash-completion.sh runs this file.

_luoctl_sessions()
{
    # Session names the caller may see; nothing when luod does not answer. Names are JSON
    # strings on lines of their own in the pretty-printed document.
    "$1" --json sessions 2>/dev/null | sed -n 's/^ *"name": "\(.*\)",\{0,1\}$/\1/p'
}

_luoctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local program=${COMP_WORDS[0]}
    local verbs="status sessions session load unload check update cancel inhibit inhibitors close report metrics"
    local global="--help --version --json"
    local verb="" i j
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) verb=${COMP_WORDS[i]}; break ;;
        esac
    done

    if [[ -z $verb ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$global" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
        fi
        return
    fi

    # After 'inhibit ... --', a command line of its own.
    if [[ $verb == inhibit ]]; then
        for ((j = i + 1; j < COMP_CWORD; j++)); do
            if [[ ${COMP_WORDS[j]} == -- ]]; then
                if ((COMP_CWORD == j + 1)); then
                    mapfile -t COMPREPLY < <(compgen -c -- "$cur")
                else
                    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
                fi
                return
            fi
        done
    fi

    case $prev in
        --strategy) mapfile -t COMPREPLY < <(compgen -W "auto direct systemd orderly" -- "$cur"); return ;;
        --mode) mapfile -t COMPREPLY < <(compgen -W "delay block" -- "$cur"); return ;;
        --initrd | --output) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
        --append | --timeout | --why | --who) return ;;
    esac

    local options="--help --json"
    case $verb in
        load) options+=" --initrd --append --reuse-cmdline --no-liveupdate-flags" ;;
        update) options+=" --dry-run --force --wait --timeout --strategy" ;;
        inhibit) options+=" --why --who --mode" ;;
        metrics) options+=" --output" ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
        return
    fi
    case $verb in
        session | close) mapfile -t COMPREPLY < <(compgen -W "$(_luoctl_sessions "$program")" -- "$cur") ;;
        load) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    esac
}

complete -F _luoctl luoctl
