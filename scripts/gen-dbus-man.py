#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""org.luod.LiveUpdate1(5) from the D-Bus introspection XML in dbus/.

The XML is the source of truth of luod's API. Each member there is preceded by a comment

    @member Name
    text...
    @errors Error.Name, ... (org.luod.LiveUpdate1.* unless fully qualified)
    @access who may call it

and the Manager's header comment lists every error name. This script renders that into a
man page, and checks it, so that the page cannot drift from the API:

  gen-dbus-man.py --output PAGE XML...       write the page (--date YYYY-MM-DD to date it)
  gen-dbus-man.py --check-docs XML...        fail unless every member is documented
  gen-dbus-man.py --check-page PAGE XML...   fail unless PAGE is what the XML gives now (its
                                             date aside) and shows every member, argument
                                             and error

Needs only the Python standard library.
"""

import argparse
import re
import sys
import xml.etree.ElementTree as ET

DIRECTIONS = {"in": "in", "out": "out"}
EMITS_DEFAULT = "true"  # the D-Bus specification's default for EmitsChangedSignal
EMITS_ANNOTATION = "org.freedesktop.DBus.Property.EmitsChangedSignal"
KINDS = ("method", "signal", "property")


class ApiError(Exception):
    """The XML does not follow the documentation conventions."""


class Doc:
    def __init__(self, name):
        self.name = name
        self.text = []    # (indent, line) pairs, the description
        self.errors = None  # raw text after @errors, or None when absent
        self.access = None  # raw text after @access, or None when absent


class Member:
    def __init__(self, kind, name):
        self.kind = kind
        self.name = name
        self.args = []      # (direction, type, name); direction "" for signals
        self.type = ""      # properties
        self.access = ""    # properties: read, write, readwrite
        self.emits = EMITS_DEFAULT
        self.doc = None


class Interface:
    def __init__(self, name, source):
        self.name = name
        self.source = source
        self.members = []
        self.object_path = ""

    def of_kind(self, kind):
        return [m for m in self.members if m.kind == kind]

    def find(self, name):
        for member in self.members:
            if member.name == name:
                return member
        return None


class Api:
    def __init__(self):
        self.interfaces = []
        self.error_prefix = ""
        self.errors = []          # (full name, description)
        self.generic_errors = []  # full names, without descriptions
        self.problems = []        # documentation problems found while parsing

    def known_error(self, full_name):
        return any(name == full_name for name, _ in self.errors) or full_name in self.generic_errors

    def find_method(self, name):
        for interface in self.interfaces:
            member = interface.find(name)
            if member is not None and member.kind == "method":
                return member
        return None


# ---- parsing ------------------------------------------------------------------------------

def parse_doc(comment):
    """A Doc from a comment holding '@member', else None."""
    lines = comment.split("\n")
    doc = None
    mode = "text"
    for raw in lines:
        line = raw.rstrip()
        stripped = line.strip()
        if doc is None:
            match = re.search(r"@member\s+(\S+)(.*)$", line)
            if not match:
                continue
            doc = Doc(match.group(1))
            rest = match.group(2).strip()
            if rest:
                doc.text.append((line.index(rest), rest))
            continue
        if stripped.startswith("@errors"):
            mode = "errors"
            doc.errors = stripped[len("@errors"):].strip()
        elif stripped.startswith("@access"):
            mode = "access"
            doc.access = stripped[len("@access"):].strip()
        elif stripped.startswith("@"):
            raise ApiError("unknown tag '%s' in the comment of %s" % (stripped.split()[0], doc.name))
        elif mode == "errors":
            doc.errors = (doc.errors + " " + stripped).strip()
        elif mode == "access":
            doc.access = (doc.access + " " + stripped).strip()
        else:
            doc.text.append((len(line) - len(line.lstrip()), stripped))
    if doc is None:
        return None
    while doc.text and not doc.text[0][1]:
        doc.text.pop(0)
    while doc.text and not doc.text[-1][1]:
        doc.text.pop()
    return doc


def parse_error_list(api, header, source):
    """The error names of a header comment holding 'Error names (all PREFIX.<Name> ...'."""
    lines = header.split("\n")
    for index, line in enumerate(lines):
        match = re.search(r"Error names \(all ([\w.]+)\.<Name>", line)
        if match:
            break
    else:
        return
    api.error_prefix = match.group(1)
    for line in lines[index + 1:]:
        text = line.strip()
        if not text:
            continue
        if text.split()[0].endswith(","):  # a list of names without descriptions
            api.generic_errors.extend(expand_error_names(api, text, source))
            continue
        parts = text.split(None, 1)
        if len(parts) != 2:
            raise ApiError("%s: error '%s' has no description" % (source, parts[0]))
        api.errors.append((qualify_error(api, parts[0], ""), parts[1]))


def qualify_error(api, name, explicit):
    """A full error name. 'X' is luod's own (PREFIX.X); 'a.b.X' is as written; '.X' shares the
    prefix of the last name written out in full before it in the same list (`explicit`), or
    without one, that of the standard errors the header lists (org.freedesktop.DBus.Error)."""
    if name.startswith("."):
        anchor = explicit or (api.generic_errors[0] if api.generic_errors else "")
        if not anchor:
            raise ApiError("error '%s' has no full name to take its prefix from" % name)
        return anchor.rsplit(".", 1)[0] + name
    if "." in name:
        return name
    if not api.error_prefix:
        raise ApiError("error '%s' before the error list's prefix is known" % name)
    return api.error_prefix + "." + name


def split_outside_parentheses(text):
    items, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        items.append(current.strip())
    return items


def expand_error_names(api, text, source):
    names, explicit = [], ""
    for item in split_outside_parentheses(text):
        name = item.split()[0]
        if not re.fullmatch(r"[\w.]+", name):
            raise ApiError("%s: '%s' is not an error name" % (source, item))
        full = qualify_error(api, name, explicit)
        if "." in name and not name.startswith("."):
            explicit = full
        names.append(full)
    return names


def parse_errors_field(api, member):
    """member's @errors as [(full name or None, rest of the item)]; 'none' is []."""
    text = member.doc.errors
    if text == "none":
        return []
    match = re.fullmatch(r"as (\w+)", text)
    if match:
        return [(None, match.group(1))]
    items, explicit = [], ""
    for item in split_outside_parentheses(text):
        parts = item.split(None, 1)
        full = qualify_error(api, parts[0], explicit)
        if "." in parts[0] and not parts[0].startswith("."):
            explicit = full
        items.append((full, parts[1] if len(parts) > 1 else ""))
    return items


def parse_xml(api, path):
    parser = ET.XMLPullParser(events=("start", "end", "comment"))
    with open(path, encoding="utf-8") as stream:
        parser.feed(stream.read())
    parser.close()

    interface = None
    member = None
    pending = None  # the last @member comment not yet attached
    headers = []    # comments before <node>
    in_node = False
    for event, element in parser.read_events():
        if event == "comment":
            text = element.text or ""
            if not in_node:
                headers.append(text)
                continue
            doc = parse_doc(text)
            if doc is not None:
                if pending is not None:
                    api.problems.append("%s: the comment '@member %s' precedes no member of that name"
                                        % (path, pending.name))
                pending = doc
            continue
        tag = element.tag
        if event == "start":
            if tag == "node":
                in_node = True
            elif tag == "interface":
                interface = Interface(element.get("name"), path)
                for header in headers:
                    parse_error_list(api, header, path)
                    match = re.search(r"^\s*%s at (\S+?)[.,]?(\s|$)" % re.escape(interface.name),
                                      header, re.M)
                    if match:
                        interface.object_path = match.group(1)
                api.interfaces.append(interface)
            elif tag in KINDS:
                if interface is None:
                    raise ApiError("%s: <%s> outside an interface" % (path, tag))
                member = Member(tag, element.get("name"))
                if tag == "property":
                    member.type = element.get("type", "")
                    member.access = element.get("access", "")
                if pending is not None and pending.name == member.name:
                    member.doc = pending
                elif pending is not None:
                    api.problems.append("%s: the comment '@member %s' precedes %s %s"
                                        % (path, pending.name, tag, member.name))
                pending = None
                interface.members.append(member)
            elif tag == "arg" and member is not None:
                direction = element.get("direction", "in" if member.kind == "method" else "")
                member.args.append((direction, element.get("type", ""), element.get("name", "")))
            elif tag == "annotation" and member is not None:
                if element.get("name") == EMITS_ANNOTATION:
                    member.emits = element.get("value", EMITS_DEFAULT)
        else:
            if tag in KINDS:
                member = None
            elif tag == "interface":
                interface = None
    if pending is not None:
        api.problems.append("%s: the comment '@member %s' precedes no member" % (path, pending.name))


def load_api(paths):
    api = Api()
    for path in paths:
        parse_xml(api, path)
    return api


# ---- checks -------------------------------------------------------------------------------

def documentation_problems(api):
    problems = list(api.problems)
    if not api.errors:
        problems.append("no header comment lists the error names ('Error names (all PREFIX.<Name>...')")
    for interface in api.interfaces:
        where = "%s (%s)" % (interface.name, interface.source)
        if not interface.object_path:
            problems.append("%s: the header comment does not say '%s at /object/path'"
                            % (where, interface.name))
        if not interface.members:
            problems.append("%s: no members" % where)
        for member in interface.members:
            what = "%s: %s %s" % (where, member.kind, member.name)
            doc = member.doc
            if doc is None:
                problems.append("%s has no '@member %s' comment before it" % (what, member.name))
                continue
            if not any(line for _, line in doc.text):
                problems.append("%s: the comment has no description" % what)
            for direction, type_, name in member.args:
                if not name:
                    problems.append("%s: an argument of type %s has no name" % (what, type_))
            if member.kind == "method":
                if not doc.errors:
                    problems.append("%s: no '@errors' (write '@errors none' if it cannot fail)" % what)
                if not doc.access:
                    problems.append("%s: no '@access'" % what)
            elif doc.errors is not None or doc.access is not None:
                problems.append("%s: '@errors' and '@access' are for methods" % what)
            if member.kind == "method" and doc.errors:
                try:
                    for full, rest in parse_errors_field(api, member):
                        if full is None:
                            if api.find_method(rest) is None:
                                problems.append("%s: '@errors as %s' names no method" % (what, rest))
                        elif not api.known_error(full):
                            problems.append("%s: error %s is not in the header's list of errors"
                                            % (what, full))
                except ApiError as e:
                    problems.append("%s: %s" % (what, e))
            if member.kind == "property":
                if member.emits not in ("true", "invalidates", "const", "false"):
                    problems.append("%s: EmitsChangedSignal '%s' is not true, invalidates, const or false"
                                    % (what, member.emits))
                if member.access not in ("read", "write", "readwrite"):
                    problems.append("%s: access '%s' is not read, write or readwrite" % (what, member.access))
    return problems


def undated(page_text):
    """The page without the date of its .TH line, which depends on the day it was made."""
    return re.sub(r"^(\.TH \S+ \S+) \S+", r"\1", page_text, count=1, flags=re.M)


def page_problems(api, page_text, expected_text):
    """What the page at hand lacks; [] when it is complete and current."""
    problems = []
    for interface in api.interfaces:
        if roff_text(interface.name) not in page_text:
            problems.append("the page does not name interface %s" % interface.name)
        for member in interface.members:
            name = roff_text(member.name)
            heading = "\\fB%s\\fR" % name
            if page_text.count(heading) < 2:
                problems.append("the page lacks the synopsis line or the description of %s %s.%s"
                                % (member.kind, interface.name, member.name))
            for _, type_, arg in member.args:
                if "\\fI%s\\fR" % roff_text(arg) not in page_text:
                    problems.append("the page does not show argument %s of %s.%s"
                                    % (arg, interface.name, member.name))
            if member.kind == "property" and roff_text(member.type) not in page_text:
                problems.append("the page does not show the type of %s.%s" % (interface.name, member.name))
    for name, _ in api.errors:
        if "\\fB%s\\fR" % roff_text(name) not in page_text:
            problems.append("the page does not list error %s" % name)
    if not problems and undated(page_text) != undated(expected_text):
        problems.append("the page differs from what the XML gives now: regenerate it (cmake --build)")
    return problems


# ---- rendering ----------------------------------------------------------------------------

def roff_text(text):
    """Text safe in a roff text line (no leading-dot handling): backslashes escaped, and '-' a
    minus sign, as names, values and options want, so that what is copied from the page works."""
    return text.replace("\\", "\\e").replace("-", "\\-")


def roff_line(text):
    """A text line that roff will not take for a request."""
    text = roff_text(text)
    if text.startswith(".") or text.startswith("'"):
        text = "\\&" + text
    return text


def inline(text):
    """Prose from the XML: `name` in italics."""
    return re.sub(r"`([^`]+)`", lambda m: "\\fI%s\\fR" % m.group(1), roff_text(text))


def prose_lines(text):
    line = inline(text)
    if line.startswith(".") or line.startswith("'"):
        line = "\\&" + line
    return line


def render_description(doc):
    """The doc text: filled paragraphs, and more deeply indented lines kept as they are."""
    if not doc.text:
        return []
    base = doc.text[0][0]
    blocks = []  # [kind, [(indent, line)...]], kind "para", "pre" or "gap"
    for indent, line in doc.text:
        kind = "gap" if not line else ("pre" if indent > base else "para")
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append((indent, line))
        else:
            blocks.append([kind, [(indent, line)]])
    out = []
    for kind, lines in blocks:
        if kind == "gap":
            continue
        if kind == "para":
            if out:
                out.append(".IP")
            out += [prose_lines(line) for _, line in lines]
            continue
        least = min(indent for indent, _ in lines)
        if out:
            out.append(".sp")
        out += [".RS", ".nf"]
        out += [roff_line(" " * (indent - least) + line) for indent, line in lines]
        out += [".fi", ".RE"]
    return out


def error_reference(name):
    return "\\fB%s\\fR" % roff_text(name)


def render_errors(api, member):
    items = parse_errors_field(api, member)
    if not items:
        return "Errors: none."
    if items[0][0] is None:
        return "Errors: as for \\fB%s\\fR()." % roff_text(items[0][1])
    parts = []
    for full, rest in items:
        parts.append(error_reference(full) + (" " + inline(rest) if rest else ""))
    return "Errors: " + ", ".join(parts) + "."


def signature_tag(member):
    """The .TP tag of a method or signal: Name(in s name, ...) -> out."""
    ins, outs = [], []
    for direction, type_, name in member.args:
        text = "%s \\fI%s\\fR" % (roff_text(type_), roff_text(name))
        (outs if direction == "out" else ins).append(text)
    tag = "\\fB%s\\fR(%s)" % (roff_text(member.name), ", ".join(ins))
    if outs:
        tag += " \\(-> " + ", ".join(outs)
    return tag


def synopsis_block(interface):
    """systemd-style outline of an object: every member with its signature."""
    lines = ["node %s {" % interface.object_path, "  interface %s {" % interface.name]
    for kind, title in (("method", "methods"), ("signal", "signals"), ("property", "properties")):
        members = interface.of_kind(kind)
        if not members:
            continue
        lines.append("    %s:" % title)
        for member in members:
            if kind == "property":
                access = {"read": "readonly", "write": "writeonly", "readwrite": "readwrite"}.get(
                    member.access, member.access)
                if member.emits != EMITS_DEFAULT:
                    lines.append('      @%s("%s")' % (EMITS_ANNOTATION, member.emits))
                lines.append("      %s %s \\fB%s\\fR;" % (access, roff_text(member.type), roff_text(member.name)))
                continue
            head = "      \\fB%s\\fR(" % roff_text(member.name)
            pad = " " * (len("      ") + len(member.name) + 1)
            args = []
            for direction, type_, name in member.args:
                prefix = ("%-4s" % direction) if kind == "method" else ""
                args.append("%s%s \\fI%s\\fR" % (prefix, roff_text(type_), roff_text(name)))
            if not args:
                lines.append(head + ");")
                continue
            for index, arg in enumerate(args):
                last = index == len(args) - 1
                lines.append((head if index == 0 else pad) + arg + (");" if last else ","))
    lines += ["  };", "};"]
    return [".PP", ".RS 4", ".nf"] + lines + [".fi", ".RE"]


PROPERTY_CHANGES = {
    "true": "Changes are announced by PropertiesChanged with the new value.",
    "invalidates": "Changes are announced by PropertiesChanged without the value: read it again.",
    "const": "Does not change while luod runs.",
    "false": "Changes are not announced: read it when needed.",
}

PROPERTY_ACCESS = {"read": "read-only", "write": "write-only", "readwrite": "read-write"}


def render_interface(api, interface, short):
    out = [".SH \"THE %s INTERFACE\"" % short.upper(),
           ".PP",
           "Interface \\fB%s\\fR, on the object%s \\fB%s\\fR."
           % (roff_text(interface.name), "s" if "<" in interface.object_path else "",
              roff_text(interface.object_path))]
    if short == "Session":
        out += ["A session's object path is \\fB/org/luod/LiveUpdate1/session/s\\fR followed by 16 hex",
                "digits: opaque, not derived from its name, so that the object tree tells nobody which",
                "sessions exist; it stays valid while luod runs.",
                "Every method and property of a session is for its owner (the uid and systemd unit",
                "recorded when the session was created) or root; to anyone else the object reads as an",
                "absent one: \\fBorg.freedesktop.DBus.Error.UnknownObject\\fR."]
    out += synopsis_block(interface)
    for kind, title in (("method", "Methods"), ("signal", "Signals"), ("property", "Properties")):
        members = interface.of_kind(kind)
        if not members:
            continue
        out += [".SS %s" % title]
        for member in members:
            out.append(".TP")
            if kind == "property":
                out.append("\\fB%s\\fR (\\fI%s\\fR)" % (roff_text(member.name), roff_text(member.type)))
            else:
                out.append(signature_tag(member))
            out += render_description(member.doc)
            if kind == "method":
                out += [".IP", render_errors(api, member),
                        ".IP", "Access: %s." % inline(member.doc.access.rstrip("."))]
            elif kind == "property":
                out += [".IP", "Type \\fB%s\\fR, %s. %s" % (roff_text(member.type),
                                                              PROPERTY_ACCESS.get(member.access, member.access),
                                                              PROPERTY_CHANGES.get(member.emits, ""))]
    return out


def require(api, interface_name, member_name):
    for interface in api.interfaces:
        if interface.name == interface_name and interface.find(member_name) is not None:
            return member_name
    raise ApiError("the page's examples use %s.%s, which the XML does not have" % (interface_name, member_name))


def render_page(api, date=""):
    manager = next((i for i in api.interfaces if i.name.endswith(".Manager")), None)
    session = next((i for i in api.interfaces if i.name.endswith(".Session")), None)
    if manager is None or session is None:
        raise ApiError("expected a Manager and a Session interface")
    bus_name = manager.name.rsplit(".", 1)[0]
    out = [
        '.\\" SPDX-License-Identifier: Apache-2.0',
        '.\\" Generated by scripts/gen-dbus-man.py from dbus/*.xml: edit those, not this page.',
        '.TH %s 5 %s "luod" "D-Bus API"' % (bus_name, date or '""'),
        '.\\" Long names: no hyphenation, ragged right.',
        ".nh",
        ".ad l",
        ".SH NAME",
        "%s \\- the D-Bus API of luod, the Live Update Orchestrator daemon" % bus_name,
        ".SH DESCRIPTION",
        ".PP",
        ".BR luod (8)",
        "serves the bus name \\fB%s\\fR on the system bus. Services use it to keep Live Update"
        % bus_name,
        "Orchestrator sessions (file descriptors that survive a kexec into the next kernel); operators",
        "and fleet agents use it to load the next kernel and run the update, usually through",
        ".BR luoctl (1).",
        "The bus name can be activated: the bus starts luod through systemd on the first call.",
        ".PP",
        "There are two kinds of objects: the manager, one per host, and one object per session.",
        "The introspection XML installed with luod (see",
        ".BR FILES )",
        "is the source of truth of this API; this page is generated from it.",
        ".PP",
        "luod checks every caller's credentials itself (uid, and the systemd unit the caller runs in),",
        "on top of the bus policy, which denies everything to users other than root except the calls",
        "meant for them. Root may do everything. Other users may create sessions within a per-user quota",
        "and see and use only the sessions they own, before and after an update. Loading a kernel,",
        "starting or cancelling an update and taking a block inhibitor are for root only.",
    ]
    out += render_interface(api, manager, "Manager")
    out += render_interface(api, session, "Session")
    for interface in api.interfaces:
        if interface is not manager and interface is not session:
            out += render_interface(api, interface, interface.name.rsplit(".", 1)[1])

    out += [".SH ERRORS",
            ".PP",
            "Errors of luod's own are named \\fB%s.\\fR\\fIName\\fR:" % roff_text(api.error_prefix)]
    for name, description in api.errors:
        out += [".TP", error_reference(name), prose_lines(description)]
    if api.generic_errors:
        out += [".PP",
                "Generic cases (a malformed argument, a caller without the right, an option this luod does",
                "not support, a limit of the bus) use the standard names:",
                ", ".join(error_reference(name) for name in api.generic_errors) + "."]
    out += [".PP",
            "Every failure leaves things as they were, except where a method's description says",
            "otherwise. The error message says what failed, in words; programs should act on the name."]

    manager_path = manager.object_path
    get_property = require(api, manager.name, "State")
    list_sessions = require(api, manager.name, "ListSessions")
    last_update = require(api, manager.name, "LastUpdate")
    check = require(api, manager.name, "Check")
    out += [".SH EXAMPLES",
            ".PP",
            "Read luod's state, list the sessions the caller may see, and run the pre-flight checks with",
            ".BR busctl (1):",
            ".PP",
            ".RS 4",
            ".nf",
            "busctl get\\-property %s %s %s %s" % (bus_name, manager_path, manager.name, get_property),
            "busctl call %s %s %s %s" % (bus_name, manager_path, manager.name, list_sessions),
            "busctl call %s %s %s %s" % (bus_name, manager_path, manager.name, check),
            ".fi",
            ".RE",
            ".PP",
            "The report of the last update is a JSON document in a string property:",
            ".PP",
            ".RS 4",
            ".nf",
            "busctl \\-\\-json=short get\\-property %s %s \\e" % (bus_name, manager_path),
            "    %s %s" % (manager.name, last_update),
            ".fi",
            ".RE",
            ".PP",
            "Follow what luod announces:",
            ".PP",
            ".RS 4",
            ".nf",
            "busctl monitor %s" % bus_name,
            ".fi",
            ".RE",
            ".SH FILES",
            ".TP",
            ".I /usr/share/dbus\\-1/interfaces/%s.xml" % manager.name,
            ".TQ",
            ".I /usr/share/dbus\\-1/interfaces/%s.xml" % session.name,
            "The introspection XML, with the documentation this page is made of.",
            ".TP",
            ".I /usr/share/dbus\\-1/system.d/%s.conf" % bus_name,
            "The bus policy: root owns the name and may send anything; other users may send only the",
            "methods meant for them.",
            ".TP",
            ".I /usr/share/dbus\\-1/system\\-services/%s.service" % bus_name,
            "Bus activation, handed over to systemd's",
            ".IR luod.service .",
            ".SH \"SEE ALSO\"",
            ".BR luod (8),",
            ".BR luoctl (1),",
            ".BR luo\\-kernel\\-model (8),",
            ".BR busctl (1),",
            ".BR dbus\\-daemon (1),",
            ".BR sd_bus_path_encode (3),",
            ".BR kexec (8)"]
    # A paragraph macro right after a heading is redundant (and mandoc -Tlint says so).
    out = [line for index, line in enumerate(out)
           if not (line == ".PP" and index > 0 and out[index - 1].startswith(".SH"))]
    return "\n".join(out) + "\n"


# ---- main ---------------------------------------------------------------------------------

def main(argv):
    parser = argparse.ArgumentParser(description="Render or check org.luod.LiveUpdate1(5).")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--output", metavar="PAGE", help="write the man page to PAGE")
    mode.add_argument("--check-docs", action="store_true", help="check that every member is documented")
    mode.add_argument("--check-page", metavar="PAGE", help="check that PAGE is complete and current")
    parser.add_argument("--date", default="", help="the page's date (YYYY-MM-DD); none by default")
    parser.add_argument("xml", nargs="+", help="introspection XML files")
    args = parser.parse_args(argv)

    try:
        api = load_api(args.xml)
        problems = documentation_problems(api)
        if args.check_docs:
            for problem in problems:
                print("gen-dbus-man: %s" % problem, file=sys.stderr)
            if not problems:
                count = sum(len(i.members) for i in api.interfaces)
                print("gen-dbus-man: %d members of %d interfaces documented, %d errors listed"
                      % (count, len(api.interfaces), len(api.errors) + len(api.generic_errors)))
            return 1 if problems else 0
        if problems:
            for problem in problems:
                print("gen-dbus-man: %s" % problem, file=sys.stderr)
            return 1
        page = render_page(api, args.date)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as stream:
                stream.write(page)
            return 0
        with open(args.check_page, encoding="utf-8") as stream:
            current = stream.read()
        problems = page_problems(api, current, page)
        for problem in problems:
            print("gen-dbus-man: %s: %s" % (args.check_page, problem), file=sys.stderr)
        if not problems:
            print("gen-dbus-man: %s shows all %d members and %d errors"
                  % (args.check_page, sum(len(i.members) for i in api.interfaces), len(api.errors)))
        return 1 if problems else 0
    except (ApiError, ET.ParseError, OSError) as e:
        print("gen-dbus-man: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
