// SPDX-License-Identifier: Apache-2.0
#include "manifest.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <set>
#include <type_traits>

#include "api_error.h"
#include "names.h"
#include "session_record.h"

namespace luod {

namespace {

using nlohmann::json;

constexpr const char* kFormat = "luod-manifest";

[[noreturn]] void bad(const std::string& what) { throw ManifestError("manifest: " + what); }

template <typename T>
T field(const json& j, const char* key)
{
    auto it = j.find(key);
    if (it == j.end())
        bad(std::string("missing '") + key + "'");
    // nlohmann converts any number, float or negative, to any integer type (out of range is
    // undefined behaviour); a manifest's integers are unsigned and must fit exactly.
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        static_assert(std::is_unsigned_v<T>);
        if (!it->is_number_unsigned() || it->template get<std::uint64_t>() > std::numeric_limits<T>::max())
            bad(std::string("'") + key + "' is not an unsigned integer in range");
        return static_cast<T>(it->template get<std::uint64_t>());
    }
    try {
        return it->get<T>();
    } catch (const json::exception&) {
        bad(std::string("'") + key + "' has the wrong type");
    }
}

template <typename T>
T optional_field(const json& j, const char* key, T fallback)
{
    return j.contains(key) ? field<T>(j, key) : fallback;
}

// A string member that `parse` (a string table's from_string) knows.
template <typename Parse>
std::string known_name(const json& j, const char* key, Parse parse)
{
    auto v = field<std::string>(j, key);
    if (!parse(v))
        bad(std::string("bad '") + key + "': " + printable(v));
    return v;
}

// One session's object, validated: name, kind, state, fields, unique labels and tokens.
ManifestSession decode_session(const json& js)
{
    if (!js.is_object())
        bad("a session is not an object");
    ManifestSession s;
    s.name = field<std::string>(js, "name");
    try {
        validate_session_name(s.name);
    } catch (const ApiError& e) {
        bad("session '" + printable(s.name) + "': " + e.what());
    }
    s.kind = known_name(js, "kind", luo::session_kind_from_string);
    s.state = known_name(js, "state", session_state_from_string);
    s.owner_uid = field<uid_t>(js, "owner_uid");
    s.owner_unit = field<std::string>(js, "owner_unit");
    s.created_usec = field<std::uint64_t>(js, "created_usec");
    s.next_token = field<std::uint64_t>(js, "next_token");
    s.pending = optional_field<bool>(js, "pending", false);
    s.fd_handed_out = optional_field<bool>(js, "fd_handed_out", false);
    auto found = js.find("files");  // not copied: a session may hold many files
    if (found == js.end())
        bad("missing 'files'");
    const json& files = *found;
    if (!files.is_array())
        bad("session '" + s.name + "': 'files' is not an array");
    std::set<std::string> labels;
    std::set<std::uint64_t> tokens;
    for (const auto& jf : files) {
        if (!jf.is_object())
            bad("session '" + s.name + "': a file is not an object");
        ManifestFile f;
        f.label = field<std::string>(jf, "label");
        f.token = field<std::uint64_t>(jf, "token");
        f.type = field<std::string>(jf, "type");
        f.pending = optional_field<bool>(jf, "pending", false);
        f.device = optional_field<std::string>(jf, "device", "");
        f.bytes = optional_field<std::uint64_t>(jf, "bytes", 0);
        try {
            validate_label(f.label);
        } catch (const ApiError& e) {
            bad("session '" + s.name + "': " + e.what());
        }
        if (!labels.insert(f.label).second || !tokens.insert(f.token).second)
            bad("session '" + s.name + "': label or token '" + f.label + "' used twice");
        if (f.token >= s.next_token)
            bad("session '" + s.name + "': token " + std::to_string(f.token) + " is not below next_token");
        s.files.push_back(std::move(f));
    }
    return s;
}

}  // namespace

namespace {

// Appends `text` as a JSON string as json::dump() writes it, when it is printable ASCII (as
// labels, kinds, units and device paths usually are); false, appending nothing, otherwise:
// dump() then writes it (checking its UTF-8, escaping control characters).
bool append_plain_string(std::string& out, std::string_view text)
{
    if (std::any_of(text.begin(), text.end(), [](char c) { return c < 0x20 || c > 0x7e; }))
        return false;
    out += '"';
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    out += '"';
    return true;
}

std::string encode_file_with_json(const ManifestFile& f)
{
    json jf{{"label", f.label}, {"token", f.token}, {"type", f.type}};
    if (f.pending)
        jf["pending"] = true;
    if (!f.device.empty())
        jf["device"] = f.device;
    if (f.bytes != 0)
        jf["bytes"] = f.bytes;
    return jf.dump();
}

// The session's header as json::dump() writes it (its members in name order), without "}".
std::string session_head_with_json(const ManifestSession& s)
{
    json head{{"name", s.name},
              {"kind", s.kind},
              {"state", s.state},
              {"owner_uid", s.owner_uid},
              {"owner_unit", s.owner_unit},
              {"created_usec", s.created_usec},
              {"next_token", s.next_token}};
    if (s.pending)
        head["pending"] = true;
    if (s.fd_handed_out)
        head["fd_handed_out"] = true;
    std::string text = head.dump();
    text.pop_back();
    return text;
}

// The same written directly (a restore after a kexec writes each session's record anew, and
// building a JSON document per file to write it was a tenth of the restore); what is not
// printable ASCII is left to json::dump().
std::string session_head(const ManifestSession& s)
{
    std::string text = "{\"created_usec\":" + std::to_string(s.created_usec);
    if (s.fd_handed_out)
        text += ",\"fd_handed_out\":true";
    text += ",\"kind\":";
    bool plain = append_plain_string(text, s.kind);
    text += ",\"name\":";
    plain = plain && append_plain_string(text, s.name);
    text += ",\"next_token\":" + std::to_string(s.next_token) + ",\"owner_uid\":" + std::to_string(s.owner_uid) +
        ",\"owner_unit\":";
    plain = plain && append_plain_string(text, s.owner_unit);
    if (s.pending)
        text += ",\"pending\":true";
    text += ",\"state\":";
    plain = plain && append_plain_string(text, s.state);
    return plain ? text : session_head_with_json(s);
}

}  // namespace

std::string encode_file(const ManifestFile& f)
{
    // Members in name order, as json::dump() writes them.
    std::string text = "{";
    if (f.bytes != 0)
        text += "\"bytes\":" + std::to_string(f.bytes) + ",";
    bool plain = true;
    if (!f.device.empty()) {
        text += "\"device\":";
        plain = append_plain_string(text, f.device);
        text += ',';
    }
    text += "\"label\":";
    plain = plain && append_plain_string(text, f.label);
    if (f.pending)
        text += ",\"pending\":true";
    text += ",\"token\":" + std::to_string(f.token) + ",\"type\":";
    plain = plain && append_plain_string(text, f.type);
    return plain ? text + "}" : encode_file_with_json(f);
}

std::string assemble_session(const ManifestSession& s, const std::vector<const std::string*>& files)
{
    std::string text = session_head(s);  // "files" goes last
    text += ",\"files\":[";
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (i > 0)
            text += ',';
        text += *files[i];
    }
    text += "]}";
    return text;
}

std::string encode_session(const ManifestSession& s)
{
    std::vector<std::string> encoded;
    for (const auto& f : s.files)
        encoded.push_back(encode_file(f));
    std::vector<const std::string*> parts;
    for (const auto& e : encoded)
        parts.push_back(&e);
    return assemble_session(s, parts);
}

std::string assemble_manifest(const Manifest& m, const std::vector<const std::string*>& sessions)
{
    json head{{"format", kFormat},
              {"version", kManifestVersion},
              {"generation", m.generation},
              {"written_usec", m.written_usec},
              {"boot_id", m.boot_id},
              {"live_update_count", m.live_update_count},
              {"update", m.update},
              {"last_update", m.last_update}};
    std::string text = head.dump();
    text.pop_back();  // the closing brace: "sessions" goes last
    std::size_t size = text.size() + 16;
    for (const std::string* s : sessions)
        size += s->size() + 1;
    text.reserve(size);
    text += ",\"sessions\":[";
    for (std::size_t i = 0; i < sessions.size(); ++i) {
        if (i > 0)
            text += ',';
        text += *sessions[i];
    }
    text += "]}";
    return text;
}

std::string encode_manifest(const Manifest& m)
{
    std::vector<std::string> encoded;
    encoded.reserve(m.sessions.size());
    for (const auto& s : m.sessions)
        encoded.push_back(encode_session(s));
    std::vector<const std::string*> parts;
    for (const auto& e : encoded)
        parts.push_back(&e);
    return assemble_manifest(m, parts);
}

Manifest decode_manifest(std::string_view text)
{
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        bad("not a JSON object");
    if (field<std::string>(doc, "format") != kFormat)
        bad("not a luod manifest");
    auto version = field<std::uint32_t>(doc, "version");
    if (version != kManifestVersion)
        bad("version " + std::to_string(version) + " is not supported (this luod reads version " +
            std::to_string(kManifestVersion) + ")");
    Manifest m;
    m.generation = field<std::uint64_t>(doc, "generation");
    m.written_usec = field<std::uint64_t>(doc, "written_usec");
    m.boot_id = optional_field<std::string>(doc, "boot_id", "");
    m.live_update_count = field<std::uint64_t>(doc, "live_update_count");
    m.update = optional_field<json>(doc, "update", json::object());
    m.last_update = optional_field<json>(doc, "last_update", json::object());
    if (!m.update.is_object() || !m.last_update.is_object())
        bad("'update' and 'last_update' must be objects");
    auto sessions = field<json>(doc, "sessions");
    if (!sessions.is_array())
        bad("'sessions' is not an array");
    std::set<std::string> names;
    for (const auto& js : sessions) {
        ManifestSession s = decode_session(js);
        if (!names.insert(s.name).second)
            bad("session '" + s.name + "' is listed twice");
        m.sessions.push_back(std::move(s));
    }
    return m;
}

ManifestIndex decode_manifest_index(std::string_view text)
{
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        bad("the index is not a JSON object");
    if (field<std::string>(doc, "format") != "luod-manifest-index")
        bad("not a luod manifest index");
    auto version = field<std::uint32_t>(doc, "version");
    if (version != 2)
        bad("index version " + std::to_string(version) + " is not supported (this luod reads version 2)");
    ManifestIndex ix;
    ix.epoch = field<std::uint64_t>(doc, "epoch");
    ix.segment_size = field<std::size_t>(doc, "segment_size");
    if (ix.segment_size < 4096 || ix.segment_size > (std::size_t{1} << 40))
        bad("the index's segment size is out of range");
    ix.next_token = field<std::uint64_t>(doc, "next_token");
    std::set<std::uint64_t> seen;
    auto tokens = [&](const char* key, std::vector<std::uint64_t>& out) {
        auto list = field<json>(doc, key);
        if (!list.is_array())
            bad(std::string("'") + key + "' is not an array");
        for (const auto& t : list) {
            if (!t.is_number_unsigned() || t.get<std::uint64_t>() == 0 || !seen.insert(t.get<std::uint64_t>()).second)
                bad(std::string("a token in '") + key + "' is 0, used twice or not an unsigned integer");
            out.push_back(t.get<std::uint64_t>());
        }
    };
    tokens("active", ix.active);
    tokens("spare", ix.spare);
    if (doc.contains("last_state")) {
        auto at = field<json>(doc, "last_state");
        if (!at.is_object())
            bad("'last_state' is not an object");
        ix.last_state = ManifestIndex::EntryAt{field<std::size_t>(at, "offset"), field<std::uint64_t>(at, "seq")};
        if (ix.last_state->seq == 0)
            bad("'last_state' names entry 0");
    }
    return ix;
}

namespace {

// A session as its log entries leave it: the header and each file's object, by token.
struct Replayed {
    json header;
    std::map<std::uint64_t, json> files;
};

// Applies a session entry ({"n":...} with "s", "f", "d"; not "x") to what its earlier ones
// left, taking its header and files from it.
void apply_session_entry(Replayed& s, json& e, const std::string& name)
{
    if (auto it = e.find("s"); it != e.end()) {
        if (!it->is_object())
            bad("session '" + printable(name) + "': its header is not an object");
        s.header = std::move(*it);
    }
    if (auto it = e.find("f"); it != e.end()) {
        if (!it->is_array())
            bad("session '" + printable(name) + "': 'f' is not an array");
        for (auto& f : *it) {
            if (!f.is_object())
                bad("session '" + printable(name) + "': a file is not an object");
            auto token = field<std::uint64_t>(f, "token");
            s.files[token] = std::move(f);
        }
    }
    if (auto it = e.find("d"); it != e.end()) {
        if (!it->is_array())
            bad("session '" + printable(name) + "': 'd' is not an array");
        for (const auto& t : *it) {
            if (!t.is_number_unsigned())
                bad("session '" + printable(name) + "': a dropped token is not an unsigned integer");
            s.files.erase(t.get<std::uint64_t>());
        }
    }
    if (!s.header.is_object())
        bad("session '" + printable(name) + "' has files but no header");
}

json parse_entry(std::string_view text)
{
    json e = json::parse(text, nullptr, false);
    if (e.is_discarded() || !e.is_object())
        bad("a log entry is not a JSON object");
    return e;
}

// The session's object as decode_session() takes it: the header with its files, by token.
json assemble_replayed(Replayed& s)
{
    json files = json::array();
    for (auto& [token, f] : s.files)
        files.push_back(std::move(f));
    s.header["files"] = std::move(files);
    return std::move(s.header);
}

}  // namespace

Manifest replay_manifest_log(const std::vector<std::string>& entries, std::uint64_t generation)
{
    json state = json::object();
    std::optional<json> report;  // the last {"r"}, or an older luod's "last_update" in {"h"}
    std::map<std::string, Replayed> sessions;
    for (const std::string& text : entries) {
        json e = parse_entry(text);
        if (auto h = e.find("h"); h != e.end()) {
            if (!h->is_object())
                bad("a log entry's 'h' is not an object");
            state = *h;
            if (auto embedded = state.find("last_update"); embedded != state.end())
                report = *embedded;
            continue;
        }
        if (auto r = e.find("r"); r != e.end()) {
            report = *r;
            continue;
        }
        auto name = field<std::string>(e, "n");
        if (optional_field<bool>(e, "x", false)) {
            sessions.erase(name);
            continue;
        }
        apply_session_entry(sessions[name], e, name);
    }
    json doc{{"format", kFormat}, {"version", kManifestVersion}, {"generation", generation}};
    for (const char* key : {"written_usec", "live_update_count"})
        doc[key] = state.contains(key) ? state[key] : json(0);
    for (const char* key : {"boot_id", "update"})
        if (state.contains(key))
            doc[key] = state[key];
    if (report)
        doc["last_update"] = std::move(*report);
    json list = json::array();
    for (auto& [name, s] : sessions)
        list.push_back(assemble_replayed(s));
    doc["sessions"] = std::move(list);
    return decode_manifest(doc.dump());
}

namespace {

// The session an entry is about, read without parsing the entry when it is as luod writes it
// ({"n":"name",...} with no escape in the name); nullopt when it is not a session entry.
std::optional<std::string> entry_name(std::string_view text, bool& erases)
{
    constexpr std::string_view kPrefix = "{\"n\":\"";
    constexpr std::string_view kErase = ",\"x\":true}";
    if (text.starts_with(kPrefix)) {
        std::size_t end = text.find('"', kPrefix.size());
        std::string_view name = text.substr(kPrefix.size(), end - kPrefix.size());
        if (end != std::string_view::npos && name.find('\\') == std::string_view::npos) {
            std::string_view rest = text.substr(end + 1);
            // Either exactly the erasure luod writes, or a change (which never carries "x").
            erases = rest == kErase;
            if (erases || rest.find("\"x\"") == std::string_view::npos)
                return std::string(name);
        }
    }
    json e = parse_entry(text);
    if (e.contains("h") || e.contains("r"))
        return std::nullopt;
    erases = optional_field<bool>(e, "x", false);
    return field<std::string>(e, "n");
}

}  // namespace

std::optional<std::string> manifest_entry_session(std::string_view text, bool& erases)
{
    erases = false;
    return entry_name(text, erases);
}

std::optional<ManifestEntryKind> classify_manifest_entry(std::string_view head, std::size_t length, std::string& name)
{
    if (head.starts_with("{\"h\":"))
        return ManifestEntryKind::state;
    if (head.starts_with("{\"r\":"))
        return ManifestEntryKind::report;
    constexpr std::string_view kPrefix = "{\"n\":\"";
    if (!head.starts_with(kPrefix))
        return std::nullopt;
    std::size_t end = head.find('"', kPrefix.size());
    if (end == std::string_view::npos)
        return std::nullopt;
    std::string_view raw = head.substr(kPrefix.size(), end - kPrefix.size());
    if (raw.find('\\') != std::string_view::npos)
        return std::nullopt;
    std::string_view rest = head.substr(end + 1);
    bool whole = head.size() == length;
    if (whole && rest == ",\"x\":true}") {
        name = std::string(raw);
        return ManifestEntryKind::erasure;
    }
    // luod writes "x" only alone; a change of a session never has it.
    if (rest.find("\"x\"") != std::string_view::npos)
        return std::nullopt;
    name = std::string(raw);
    return ManifestEntryKind::session;
}

ManifestScan scan_manifest_log(std::vector<std::string> entries)
{
    ManifestScan scan;
    for (std::string& text : entries) {
        if (text.starts_with("{\"h\":")) {
            scan.state = std::move(text);
            continue;
        }
        if (text.starts_with("{\"r\":")) {
            scan.report = std::move(text);
            continue;
        }
        bool erases = false;
        std::optional<std::string> name = entry_name(text, erases);
        if (!name) {
            scan.state = std::move(text);
            continue;
        }
        if (erases) {
            scan.sessions.erase(*name);
            scan.erased.insert(std::move(*name));
            continue;
        }
        scan.erased.erase(*name);
        scan.sessions[*name].push_back(std::move(text));
    }
    return scan;
}

namespace {

// One session entry read without building a JSON document (a document of 10 files is some 100
// allocations, most of a glance's time after a kexec): only the shape luod writes, each member
// once and of the type luod writes (a header's "files" empty). Anything else stops the read and
// the entry is parsed into a document instead (replay_session_parsed), which says what is wrong.
struct QuickEntry {
    std::optional<std::string> name;
    std::optional<bool> erases;
    std::optional<ManifestSession> header;
    std::vector<ManifestFile> files;
    std::vector<std::uint64_t> dropped;
};

class QuickEntryReader : public json::json_sax_t {
public:
    explicit QuickEntryReader(QuickEntry& out) : out_(out) {}
    [[nodiscard]] bool whole() const { return where_ == Where::done; }

    bool null() override { return false; }
    bool boolean(bool value) override
    {
        if (where_ == Where::entry && member_ == "x")
            return out_.erases.emplace(value), true;
        if (where_ == Where::header && member_ == "pending")
            return out_.header->pending = value, true;
        if (where_ == Where::header && member_ == "fd_handed_out")
            return out_.header->fd_handed_out = value, true;
        if (where_ == Where::file && member_ == "pending")
            return out_.files.back().pending = value, true;
        return false;
    }
    bool number_integer(number_integer_t /*value*/) override { return false; }  // negative
    bool number_unsigned(number_unsigned_t value) override
    {
        if (where_ == Where::dropped)
            return out_.dropped.push_back(value), true;
        if (where_ == Where::header && member_ == "owner_uid") {
            if (value > std::numeric_limits<uid_t>::max())
                return false;
            return out_.header->owner_uid = static_cast<uid_t>(value), true;
        }
        if (where_ == Where::header && member_ == "created_usec")
            return out_.header->created_usec = value, true;
        if (where_ == Where::header && member_ == "next_token")
            return out_.header->next_token = value, true;
        if (where_ == Where::file && member_ == "token")
            return out_.files.back().token = value, true;
        if (where_ == Where::file && member_ == "bytes")
            return out_.files.back().bytes = value, true;
        return false;
    }
    bool number_float(number_float_t /*value*/, const string_t& /*text*/) override { return false; }
    bool string(string_t& value) override
    {
        std::string* to = nullptr;
        if (where_ == Where::entry && member_ == "n")
            to = &out_.name.emplace();
        else if (where_ == Where::header)
            to = member_ == "name" ? &out_.header->name
                : member_ == "kind" ? &out_.header->kind
                : member_ == "state" ? &out_.header->state
                : member_ == "owner_unit" ? &out_.header->owner_unit
                : nullptr;
        else if (where_ == Where::file)
            to = member_ == "label" ? &out_.files.back().label
                : member_ == "type" ? &out_.files.back().type
                : member_ == "device" ? &out_.files.back().device
                : nullptr;
        if (!to)
            return false;
        *to = std::move(value);
        return true;
    }
    bool binary(binary_t& /*value*/) override { return false; }
    bool start_object(std::size_t /*elements*/) override
    {
        if (where_ == Where::start)
            return enter(Where::entry);
        if (where_ == Where::entry && member_ == "s")
            return out_.header.emplace(), enter(Where::header);
        if (where_ == Where::files)
            return out_.files.emplace_back(), enter(Where::file);
        return false;
    }
    bool key(string_t& name) override
    {
        // Each member once, and only those luod writes.
        static constexpr std::array<std::string_view, 5> kEntry{"n", "s", "f", "d", "x"};
        static constexpr std::array<std::string_view, 10> kHeader{
            "name", "kind", "state", "owner_uid", "owner_unit", "created_usec", "next_token", "pending",
            "fd_handed_out", "files"};
        static constexpr std::array<std::string_view, 6> kFile{"label", "token", "type", "pending", "device", "bytes"};
        auto known = [&](const auto& members) -> bool {
            auto it = std::find(members.begin(), members.end(), name);
            if (it == members.end())
                return false;
            unsigned bit = 1u << static_cast<unsigned>(it - members.begin());
            if (seen_ & bit)
                return false;
            seen_ |= bit;
            return true;
        };
        bool ok = where_ == Where::entry ? known(kEntry)
            : where_ == Where::header    ? known(kHeader)
            : where_ == Where::file      ? known(kFile)
                                         : false;
        member_ = std::move(name);
        return ok;
    }
    bool end_object() override
    {
        if (where_ == Where::header) {
            constexpr unsigned kRequired = 0x7f;  // name to next_token
            return (seen_ & kRequired) == kRequired && leave();
        }
        if (where_ == Where::file) {
            constexpr unsigned kRequired = 0x7;  // label, token, type
            return (seen_ & kRequired) == kRequired && leave();
        }
        return where_ == Where::entry && leave();
    }
    bool start_array(std::size_t /*elements*/) override
    {
        if (where_ == Where::entry && member_ == "f")
            return enter(Where::files);
        if (where_ == Where::entry && member_ == "d")
            return enter(Where::dropped);
        if (where_ == Where::header && member_ == "files")
            return enter(Where::header_files);  // what the header says of files counts for nothing
        return false;
    }
    bool end_array() override
    {
        return (where_ == Where::files || where_ == Where::dropped || where_ == Where::header_files) && leave();
    }
    bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                     const nlohmann::detail::exception& /*error*/) override
    {
        return false;
    }

private:
    enum class Where { start, entry, header, header_files, files, file, dropped, done };
    bool enter(Where where)
    {
        stack_.emplace_back(where_, seen_);
        where_ = where;
        seen_ = 0;
        return true;
    }
    bool leave()
    {
        if (stack_.empty())
            return false;
        std::tie(where_, seen_) = stack_.back();
        stack_.pop_back();
        if (where_ == Where::start)
            where_ = Where::done;
        return true;
    }

    QuickEntry& out_;
    Where where_ = Where::start;
    unsigned seen_ = 0;  // the members of the object being read so far, a bit each
    std::string member_;
    std::vector<std::pair<Where, unsigned>> stack_;
};

}  // namespace

std::optional<ManifestSession> replay_session_quickly(const std::vector<std::string>& entries)
{
    std::optional<ManifestSession> header;
    std::map<std::uint64_t, ManifestFile> files;
    std::string name;
    for (const std::string& text : entries) {
        QuickEntry e;
        QuickEntryReader reader(e);
        if (!json::sax_parse(text, &reader) || !reader.whole() || !e.name)
            return std::nullopt;
        name = std::move(*e.name);
        if (e.erases.value_or(false)) {
            header.reset();
            files.clear();
            continue;
        }
        if (e.header)
            header = std::move(e.header);
        for (ManifestFile& f : e.files) {
            std::uint64_t token = f.token;
            files[token] = std::move(f);
        }
        for (std::uint64_t token : e.dropped)
            files.erase(token);
        if (!header)
            return std::nullopt;
    }
    if (!header || header->name != name || !luo::session_kind_from_string(header->kind) ||
        !session_state_from_string(header->state))
        return std::nullopt;
    ManifestSession s = std::move(*header);
    std::set<std::string_view> labels;
    try {
        validate_session_name(s.name);
        for (auto& [token, f] : files) {
            validate_label(f.label);
            if (token >= s.next_token || !labels.insert(f.label).second)
                return std::nullopt;
        }
    } catch (const ApiError&) {
        return std::nullopt;
    }
    s.files.reserve(files.size());
    for (auto& [token, f] : files)
        s.files.push_back(std::move(f));
    return s;
}

ManifestSession replay_session(const std::vector<std::string>& entries)
{
    if (std::optional<ManifestSession> s = replay_session_quickly(entries))
        return std::move(*s);
    return replay_session_parsed(entries);
}

ManifestSession replay_session_parsed(const std::vector<std::string>& entries)
{
    Replayed s;
    std::string name;
    for (const std::string& text : entries) {
        json e = parse_entry(text);
        name = field<std::string>(e, "n");
        if (optional_field<bool>(e, "x", false)) {
            s = Replayed();
            continue;
        }
        apply_session_entry(s, e, name);
    }
    if (!s.header.is_object())
        bad("session '" + printable(name) + "' has no header");
    ManifestSession session = decode_session(assemble_replayed(s));
    if (session.name != name)
        bad("session '" + printable(name) + "' has the header of '" + printable(session.name) + "'");
    return session;
}

}  // namespace luod
