#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compares a run of luo-conformance with the answers recorded from Linux 7.2.13.

  compare.py RESULTS_DIR EXPECTED [--model README]

RESULTS_DIR holds conformance.stage1.log and conformance.stage2.log (tests/vm/run.sh with
scenarios/conformance.sh, in QEMU or with --model). EXPECTED is expected/7.2.13.txt. Every
case must give the recorded answer, no case may be missing or new. With --model, the cases in
the table "Differences" of README are allowed the model's answer given there, and only that;
a listed difference the model no longer shows fails too (the table must stay true).
"""

import re
import sys

LINE = re.compile(r"^([a-z][A-Za-z0-9_.-]*): (.*)$")
SKIP = {"luo-do-kexec"}  # the kexec tool's own line in stage 1


def answers(lines):
    out = {}
    for line in lines:
        m = LINE.match(line.rstrip("\n"))
        if m and m.group(1) not in SKIP:
            out[m.group(1)] = m.group(2)
    return out


def differences(readme):
    """The README's table: | case | Linux 7.2.13 | model | reason |."""
    table = {}
    in_section = False
    for line in open(readme, encoding="utf-8"):
        if line.startswith("## "):
            in_section = line.strip() == "## Differences"
            continue
        if not in_section or not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        case, kernel, model = (c.strip("`") for c in cells[:3])
        table[case] = (kernel, model)
    return table


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--model"):
        print(__doc__, file=sys.stderr)
        return 2
    results, expected_file = argv[1], argv[2]
    allowed = differences(argv[4]) if len(argv) == 5 else {}
    got = {}
    for stage in ("conformance.stage1.log", "conformance.stage2.log"):
        try:
            with open("%s/%s" % (results, stage), encoding="utf-8", errors="replace") as f:
                got.update(answers(f))
        except FileNotFoundError:
            print("compare: %s/%s is missing: the run did not get that far" % (results, stage), file=sys.stderr)
            return 1
    with open(expected_file, encoding="utf-8") as f:
        expected = answers(f)
    problems = []
    for case, want in expected.items():
        if case not in got:
            problems.append("%s: missing (expected '%s')" % (case, want))
            continue
        if case in allowed:
            kernel, model = allowed[case]
            if kernel != want:
                problems.append("%s: README says Linux answers '%s', the recording '%s'" % (case, kernel, want))
            elif got[case] != model:
                problems.append("%s: '%s', but README lists the model's answer as '%s'" % (case, got[case], model))
            else:
                print("difference (README): %s: Linux '%s', model '%s'" % (case, want, got[case]))
            continue
        if got[case] != want:
            problems.append("%s: '%s', expected '%s'" % (case, got[case], want))
    for case in got:
        if case not in expected:
            problems.append("%s: '%s' is not in %s (record it)" % (case, got[case], expected_file))
    for case in allowed:
        if case not in expected:
            problems.append("README lists %s, which is not a case" % case)
    for p in problems:
        print("compare: %s" % p, file=sys.stderr)
    print("compare: %d cases, %d problems" % (len(expected), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
