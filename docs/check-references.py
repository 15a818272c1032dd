#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every reference from the code to a design document resolves inside the repository.

  check-references.py SOURCE_DIR

A reference is 'kernel-abi.md §N[.M]' or 'architecture.md §N[.M]' (with or without 'docs/'):
the file must be in docs/ and have a heading numbered N[.M]. Names of documents that are not
in the repository ('design.md', 'the ABI sheet') are refused. Run by ctest (label "docs").
"""

import pathlib
import re
import sys

DOCS = ("kernel-abi.md", "architecture.md")
# The source folders (design of the layout in README.md); build trees are left out.
SOURCE_FOLDERS = ("bench", "daemon", "dbus", "docs", "examples", "kernel", "libluo", "packaging", "scripts",
                  "tests", "units", ".ci")
SCANNED = (".cpp", ".h", ".cmake", ".txt", ".sh", ".py", ".md", ".xml", ".in")
FOREIGN = re.compile(r"\bdesign\.md\b|\bABI sheet\b|\bABI §")
REFERENCE = re.compile(r"\b(" + "|".join(re.escape(d) for d in DOCS) + r")((?:\s*(?:§[0-9]+(?:\.[0-9]+)*)(?:\s*(?:-|–|,|and)\s*)?)+)")
SECTION = re.compile(r"§([0-9]+(?:\.[0-9]+)*)")


def headings(path):
    numbers = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#+\s+([0-9]+(?:\.[0-9]+)*)\.?\s", line)
        if m:
            numbers.add(m.group(1))
    return numbers


def main():
    root = pathlib.Path(sys.argv[1])
    sections = {doc: headings(root / "docs" / doc) for doc in DOCS}
    problems = []
    paths = [p for p in root.iterdir() if p.is_file()]
    for folder in SOURCE_FOLDERS:
        paths += (root / folder).rglob("*")
    for path in sorted(paths):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix not in SCANNED:
            continue
        if relative.parts[0] == "docs" and path.name in DOCS + ("check-references.py",):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if FOREIGN.search(line):
                problems.append(f"{relative}:{number}: refers to a document outside the repository: {line.strip()}")
            for ref in REFERENCE.finditer(line):
                for section in SECTION.findall(ref.group(2)):
                    if section not in sections[ref.group(1)]:
                        problems.append(f"{relative}:{number}: docs/{ref.group(1)} has no §{section}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
