#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# luod's journald catalog and its MESSAGE_IDs are in step: every id in message_ids.h has
# an entry with a Subject, every entry's id is one luod has, every id is used in luod's
# code, and each is 32 lowercase hex digits, listed once.
#   catalog-in-step.sh CATALOG DAEMON_LUOD_DIR
set -u
catalog=$1 sources=$2
failed=0
fail() { echo "FAIL: $*"; failed=1; }
mapfile -t code_ids < <(sed -n 's/^inline constexpr std::string_view k[A-Za-z]* = "\([^"]*\)";$/\1/p' "$sources/message_ids.h" | sort)
mapfile -t catalog_ids < <(sed -n 's/^-- \(.*\)$/\1/p' "$catalog" | sort)
((${#code_ids[@]} > 0)) || { echo "FAIL: no ids in message_ids.h"; exit 1; }
[[ "${code_ids[*]}" == "${catalog_ids[*]}" ]] ||
    fail "message_ids.h has '${code_ids[*]}', the catalog '${catalog_ids[*]}'"
[[ $(printf '%s\n' "${code_ids[@]}" | uniq -d) == "" ]] || fail "an id is listed twice"
for id in "${code_ids[@]}"; do
    [[ $id =~ ^[0-9a-f]{32}$ ]] || fail "'$id' is not 32 lowercase hex digits"
    awk -v id="-- $id" '$0 == id {found = 1; next} found && /^Subject: ./ {ok = 1} found && /^-- / {exit} END {exit !ok}' \
        "$catalog" || fail "the catalog entry of $id has no Subject"
done
# Each constant is logged somewhere in luod (not only declared).
while read -r name; do
    grep -q -r --include='*.cpp' "message_id::$name" "$sources" || fail "message_id::$name is never logged"
done < <(sed -n 's/^inline constexpr std::string_view \(k[A-Za-z]*\) = .*/\1/p' "$sources/message_ids.h")
echo "ids: ${#code_ids[@]}"
exit $failed
