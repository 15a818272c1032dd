#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks of the man pages in docs/man, run by ctest (label "docs").

  check-man-page.py lint PAGE
      PAGE starts with the SPDX line, is plain ASCII (groff reads no UTF-8 without preconv) and
      formats with groff's man macros without a single warning (groff -ww).

  check-man-page.py options PAGE PROGRAM
      Every option, verb and argument that 'PROGRAM --help' shows (and, for a program with
      verbs, each 'PROGRAM VERB --help') is in PAGE; every option PAGE describes in a .TP item
      exists; every exit status of the help's "Exit status" footer is in the EXIT STATUS
      section. So neither side can change without the other.

  check-man-page.py config PAGE CONF
      Every section and key of the configuration file CONF (shipped with each key commented
      out at its default: '#Key=default') is in PAGE with the same default.
"""

import os
import re
import shutil
import subprocess
import sys

SPDX = '.\\" SPDX-License-Identifier: Apache-2.0'


def fail(problems, what):
    for problem in problems:
        print("check-man-page: %s: %s" % (what, problem), file=sys.stderr)
    return 1 if problems else 0


# ---- lint ---------------------------------------------------------------------------------

def lint(page):
    with open(page, "rb") as stream:
        raw = stream.read()
    problems = []
    text = raw.decode("ascii", errors="replace")
    if not text.startswith(SPDX + "\n"):
        problems.append("the first line is not '%s'" % SPDX)
    for number, line in enumerate(raw.split(b"\n"), 1):
        if any(byte > 0x7E or (byte < 0x20 and byte != 0x09) for byte in line):
            problems.append("line %d: not plain ASCII (write a groff escape such as \\(-> or \\[u00E9])"
                            % number)
        if line.rstrip() != line:
            problems.append("line %d: trailing white space" % number)
    groff = shutil.which("groff")
    if groff is None:
        problems.append("groff is not installed (Debian package groff-base)")
        return fail(problems, page)
    # -t: tables; -ww: every warning; -z: format but print nothing. C.UTF-8 for -Tutf8.
    env = dict(os.environ, LC_ALL="C.UTF-8")
    result = subprocess.run([groff, "-t", "-man", "-Tutf8", "-ww", "-z", page],
                            capture_output=True, text=True, env=env, check=False)
    for line in result.stderr.splitlines():
        problems.append("groff: %s" % line)
    if result.returncode != 0:
        problems.append("groff exited with status %d" % result.returncode)
    if not problems:
        print("check-man-page: %s formats without warnings" % page)
    return fail(problems, page)


# ---- options ------------------------------------------------------------------------------

def plain(roff):
    """Page source with font changes and escapes that do not show removed, for searching."""
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", roff)
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\%", "").replace("\\e", "\\")
    return text


def run_help(program, *args):
    result = subprocess.run([program, *args, "--help"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError("'%s %s --help' exited with status %d: %s"
                           % (program, " ".join(args), result.returncode, result.stderr.strip()))
    return result.stdout


def help_sections(help_text):
    """{section title: [lines]} for the 'Title:' blocks of CLI11's help."""
    sections, current = {}, None
    for line in help_text.splitlines():
        match = re.fullmatch(r"([A-Z][A-Za-z ]*):(.*)", line)
        if match:
            current = match.group(1)
            sections[current] = [match.group(2)] if match.group(2).strip() else []
        elif current is not None:
            sections[current].append(line)
    return sections


def options_of(help_text):
    """Option names (--name, -x) of the help's Options block."""
    names = []
    for line in help_sections(help_text).get("Options", []):
        match = re.match(r"\s{1,4}(-[^\s]+)", line)
        if match:
            names += re.findall(r"--?[A-Za-z][\w-]*", match.group(1))
    return names


def positionals_of(help_text):
    names = []
    for line in help_sections(help_text).get("Positionals", []):
        match = re.match(r"\s{1,4}([A-Z][A-Z0-9_]*)\s", line)
        if match:
            names.append(match.group(1))
    return names


def verbs_of(help_text):
    verbs = []
    for line in help_sections(help_text).get("Verbs", []):
        match = re.match(r"\s{1,4}([a-z][a-z0-9-]*)(\s{2,}|$)", line)
        if match:
            verbs.append(match.group(1))
    return verbs


def exit_codes_of(help_text):
    """The exit statuses the help's footer documents: table rows ('  3  luod not reachable')
    and inline lists ('0 after SIGTERM, 1 on a fatal error')."""
    start = help_text.find("Exit status:")
    if start < 0:
        return []
    footer = help_text[start:]
    codes = re.findall(r"^\s+(\d{1,3})\s{2,}\S", footer, re.M)
    codes += re.findall(r"(?<![\w(+])(\d{1,3}) (?:after|on) ", footer)
    return sorted(set(codes), key=int)


def section_of(roff, title):
    """The source of the .SH section named `title`, up to the next .SH."""
    match = re.search(r'^\.SH "?%s"?\s*$(.*?)(?=^\.SH |\Z)' % re.escape(title), roff, re.M | re.S)
    return match.group(1) if match else ""


def described_options(roff):
    """Options the page describes: those on the tag line of a .TP or .TQ item."""
    options = set()
    lines = roff.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.strip() in (".TP", ".TQ"):
            options.update(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", plain(lines[index + 1])))
    return options


def headings(roff):
    """First words of the .SS headings and of the .TP/.TQ tag lines."""
    words = set()
    lines = roff.splitlines()
    for index, line in enumerate(lines):
        tag = None
        if line.startswith(".SS "):
            tag = line[4:]
        elif line.strip() in (".TP", ".TQ") and index + 1 < len(lines):
            tag = re.sub(r"^\.(B|I|BR|BI|IR|RB)\s+", "", lines[index + 1])
        if tag is not None:
            match = re.match(r"\"?([\w-]+)", plain(tag))
            if match:
                words.add(match.group(1))
    return words


def contains_word(text, word):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(word), text) is not None


def check_options(page, program):
    with open(page, encoding="ascii") as stream:
        roff = stream.read()
    text = plain(roff)
    problems = []
    name = os.path.basename(program)

    top = run_help(program)
    helps = {"": top}
    for verb in verbs_of(top):
        helps[verb] = run_help(program, verb)
        if verb not in headings(roff):
            problems.append("verb '%s' has no item of its own (.TP or .SS starting with it)" % verb)

    known = set()
    for verb, help_text in helps.items():
        where = "'%s%s --help'" % (name, " " + verb if verb else "")
        for option in options_of(help_text):
            known.add(option)
            if not contains_word(text, option):
                problems.append("option %s of %s is not in the page" % (option, where))
        for positional in positionals_of(help_text):
            if not contains_word(text, positional):
                problems.append("argument %s of %s is not in the page" % (positional, where))

    for option in sorted(described_options(roff) - known):
        problems.append("the page describes %s, which no --help of %s shows" % (option, name))

    exit_status = plain(section_of(roff, "EXIT STATUS"))
    if not exit_status:
        problems.append("no EXIT STATUS section")
    for code in exit_codes_of(top):
        if not re.search(r"^(\.B\s+|\.TP\s*\n)?%s\b" % code, exit_status, re.M):
            problems.append("exit status %s of the help's footer is not in EXIT STATUS" % code)

    if not problems:
        print("check-man-page: %s covers the %d options, %d verbs and the exit statuses of %s"
              % (page, len(known), len(helps) - 1, name))
    return fail(problems, page)


def check_config(page, conf):
    with open(page, encoding="ascii") as stream:
        text = plain(stream.read())
    with open(conf, encoding="utf-8") as stream:
        lines = stream.read().splitlines()
    problems, keys = [], 0
    for line in lines:
        section = re.fullmatch(r"\[(\w+)\]", line.strip())
        if section and "[%s]" % section.group(1) not in text:
            problems.append("section [%s] of %s is not in the page" % (section.group(1), conf))
        entry = re.fullmatch(r"[#;]?\s*([A-Z]\w*)=(\S*)", line.strip())
        if entry:
            keys += 1
            key, default = entry.groups()
            if not re.search(r"(?<!\w)%s=\s*%s(?!\S)" % (re.escape(key), re.escape(default)), text):
                problems.append("key %s=%s of %s is not in the page (with that default)" % (key, default, conf))
    if keys == 0:
        problems.append("found no 'Key=value' lines in %s" % conf)
    if not problems:
        print("check-man-page: %s documents the %d keys of %s" % (page, keys, conf))
    return fail(problems, page)


def main(argv):
    if len(argv) == 2 and argv[0] == "lint":
        return lint(argv[1])
    if len(argv) == 3 and argv[0] == "options":
        try:
            return check_options(argv[1], argv[2])
        except (OSError, RuntimeError) as e:
            print("check-man-page: %s" % e, file=sys.stderr)
            return 1
    if len(argv) == 3 and argv[0] == "config":
        try:
            return check_config(argv[1], argv[2])
        except OSError as e:
            print("check-man-page: %s" % e, file=sys.stderr)
            return 1
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
