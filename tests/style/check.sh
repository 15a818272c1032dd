#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Usage: check.sh format SOURCE_DIR
#        check.sh tidy SOURCE_DIR BUILD_DIR   (BUILD_DIR holds compile_commands.json)
# format: every file of formatted-files.txt is exactly as clang-format (.clang-format) makes
# it. tidy: clang-tidy (.clang-tidy) reports nothing in the files of tidy-files.txt.
set -eu
mode=$1 source_dir=$2
here=$(dirname "$0")
files() { grep -v '^#' "$here/$1" | grep -v '^$'; }
cd "$source_dir"
case $mode in
format)
    command -v clang-format >/dev/null || { echo "clang-format is missing (scripts/install-deps.sh test)" >&2; exit 1; }
    # shellcheck disable=SC2046
    clang-format --style=file --dry-run --Werror $(files formatted-files.txt)
    echo "ok: $(files formatted-files.txt | wc -l) files formatted as .clang-format says"
    ;;
tidy)
    build_dir=$3
    command -v clang-tidy >/dev/null || { echo "clang-tidy is missing (scripts/install-deps.sh test)" >&2; exit 1; }
    # shellcheck disable=SC2046
    clang-tidy -p "$build_dir" --quiet $(files tidy-files.txt)
    echo "ok: clang-tidy finds nothing in $(files tidy-files.txt | wc -l) files"
    ;;
*)
    echo "usage: check.sh format|tidy SOURCE_DIR [BUILD_DIR]" >&2
    exit 2
    ;;
esac
