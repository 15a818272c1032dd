#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The polkit policy is valid by polkit's own DTD, declares exactly the actions luod asks polkit
# about (daemon/luod/polkit_actions.h), and leaves each of them to root by default (no "yes"
# for anyone: a caller luod asks about gets no without interaction).
#   check-polkit-policy.sh POLICY POLKIT_ACTIONS_H
set -euo pipefail
policy=$1 actions_h=$2
dtd=/usr/share/polkit-1/policyconfig-1.dtd
[[ -r $dtd ]] || { echo "check-polkit-policy: $dtd is missing (install polkitd)" >&2; exit 1; }
command -v xmllint >/dev/null || { echo "check-polkit-policy: xmllint is missing (install libxml2-utils)" >&2; exit 1; }
xmllint --noout --nonet --dtdvalid "$dtd" "$policy"

declared=$(xmllint --nonet --xpath '//action/@id' "$policy" | grep -o 'id="[^"]*"' | sed 's/id="\(.*\)"/\1/' | sort)
asked=$(grep -o '"org\.luod\.LiveUpdate1\.[a-z-]*"' "$actions_h" | tr -d '"' | sort)
if [[ $declared != "$asked" ]]; then
    echo "check-polkit-policy: the policy declares" $declared "but luod asks about" $asked >&2
    exit 1
fi
if xmllint --nonet --xpath '//defaults/*/text()' "$policy" | grep -qvx 'auth_admin\|auth_admin_keep\|no'; then
    echo "check-polkit-policy: a default grants an action to someone else than root" >&2
    exit 1
fi
echo "check-polkit-policy: $(wc -w <<<"$declared") actions, valid, root's by default"
