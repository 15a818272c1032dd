// SPDX-License-Identifier: Apache-2.0
#include "output.h"

#include <algorithm>

#include "exit_codes.h"
#include "update_records.h"

namespace luo::ctl {

namespace update = luo::update;

namespace {

constexpr std::string_view kColumnGap = "  ";

std::string yes_no(bool value)
{
    return value ? "yes" : "no";
}

std::string joined(const std::vector<std::string>& items, std::string_view separator)
{
    std::string text;
    for (const auto& item : items) {
        if (!text.empty())
            text += separator;
        text += item;
    }
    return text;
}

void append_padded(std::string& out, std::string_view text, std::size_t width)
{
    out += text;
    std::size_t shown = display_width(text);
    if (shown < width)
        out.append(width - shown, ' ');
}

}  // namespace

Json status_json(const ManagerStatus& status)
{
    Json document = Json::object();
    document["version"] = status.version;
    document["backend"] = status.backend;
    document["state"] = status.state;
    document["kernel_state"] = status.kernel_state;
    document["kexec_loaded"] = status.kexec_loaded;
    document["sessions"] = status.sessions;
    document["incoming_sessions"] = status.incoming_sessions;
    document["live_update_count"] = status.live_update_count;
    document["kernel_features"] = status.kernel_features;
    return document;
}

std::string status_text(const ManagerStatus& status)
{
    return key_value_text({
        {"Version", or_dash(status.version)},
        {"Backend", or_dash(status.backend)},
        {"State", or_dash(status.state)},
        {"Kernel state", or_dash(status.kernel_state)},
        {"Kexec loaded", yes_no(status.kexec_loaded)},
        {"Sessions", std::to_string(status.sessions)},
        {"Incoming sessions", std::to_string(status.incoming_sessions)},
        {"Live updates", std::to_string(status.live_update_count)},
        {"Kernel features", or_dash(joined(status.kernel_features, ", "))},
    });
}

Json sessions_json(const std::vector<SessionSummary>& sessions)
{
    Json document = Json::array();
    for (const auto& session : sessions) {
        Json entry = Json::object();
        entry["name"] = session.name;
        entry["kind"] = session.kind;
        entry["owner_uid"] = session.owner_uid;
        entry["owner_unit"] = session.owner_unit;
        entry["path"] = session.path;
        document.push_back(std::move(entry));
    }
    return document;
}

std::string sessions_text(const std::vector<SessionSummary>& sessions)
{
    std::vector<std::vector<std::string>> rows;
    rows.reserve(sessions.size());
    for (const auto& session : sessions)
        rows.push_back({session.name, session.kind, std::to_string(session.owner_uid), or_dash(session.owner_unit)});
    return table_text({"NAME", "KIND", "OWNER-UID", "OWNER-UNIT"}, rows);
}

Json inhibitors_json(const std::vector<InhibitorEntry>& inhibitors)
{
    Json document = Json::array();
    for (const auto& inhibitor : inhibitors) {
        Json entry = Json::object();
        entry["who"] = inhibitor.who;
        entry["why"] = inhibitor.why;
        entry["mode"] = inhibitor.mode;
        entry["uid"] = inhibitor.uid;
        entry["pid"] = inhibitor.pid;
        document.push_back(std::move(entry));
    }
    return document;
}

std::string inhibitors_text(const std::vector<InhibitorEntry>& inhibitors)
{
    if (inhibitors.empty())
        return "no inhibitor is held\n";
    std::vector<std::vector<std::string>> rows;
    rows.reserve(inhibitors.size());
    for (const auto& inhibitor : inhibitors)
        rows.push_back({inhibitor.who, inhibitor.mode, std::to_string(inhibitor.uid), std::to_string(inhibitor.pid),
                        inhibitor.why});
    return table_text({"WHO", "MODE", "UID", "PID", "WHY"}, rows);
}

Json session_json(const SessionDetails& session)
{
    Json files = Json::array();
    for (const auto& file : session.files) {
        Json entry = Json::object();
        entry["label"] = file.label;
        entry["token"] = file.token;
        entry["type"] = file.type;
        files.push_back(std::move(entry));
    }
    Json document = Json::object();
    document["name"] = session.name;
    document["kind"] = session.kind;
    document["state"] = session.state;
    document["owner_uid"] = session.owner_uid;
    document["owner_unit"] = session.owner_unit;
    document["path"] = session.path;
    document["file_count"] = session.file_count;
    document["files"] = std::move(files);
    return document;
}

std::string session_text(const SessionDetails& session)
{
    std::string text = key_value_text({
        {"Name", or_dash(session.name)},
        {"Kind", or_dash(session.kind)},
        {"State", or_dash(session.state)},
        {"Owner UID", std::to_string(session.owner_uid)},
        {"Owner unit", or_dash(session.owner_unit)},
        {"Path", or_dash(session.path)},
        {"Files", std::to_string(session.file_count)},
    });
    if (session.files.empty())
        return text;
    std::vector<std::vector<std::string>> rows;
    rows.reserve(session.files.size());
    for (const auto& file : session.files)
        rows.push_back({or_dash(file.label), std::to_string(file.token), or_dash(file.type)});
    text += '\n';
    text += table_text({"LABEL", "TOKEN", "TYPE"}, rows);
    return text;
}

Json checks_json(const std::vector<CheckResult>& checks)
{
    Json entries = Json::array();
    for (const auto& check : checks) {
        Json entry = Json::object();
        entry["id"] = check.id;
        entry["verdict"] = check.verdict;
        entry["detail"] = check.detail;
        entries.push_back(std::move(entry));
    }
    Json document = Json::object();
    document["ok"] = failed_checks(checks).empty();
    document["checks"] = std::move(entries);
    return document;
}

std::string checks_text(const std::vector<CheckResult>& checks)
{
    std::vector<std::vector<std::string>> rows;
    rows.reserve(checks.size());
    for (const auto& check : checks)
        rows.push_back({or_dash(check.id), or_dash(check.verdict), or_dash(check.detail)});
    return table_text({"ID", "VERDICT", "DETAIL"}, rows);
}

std::vector<std::string> failed_checks(const std::vector<CheckResult>& checks)
{
    std::vector<std::string> failed;
    for (const auto& check : checks) {
        if (update::kVerdicts.parse(check.verdict) == update::Verdict::fail)
            failed.push_back(check.id);
    }
    return failed;
}

std::string checks_error_line(const std::vector<CheckResult>& checks)
{
    std::vector<std::string> failed = failed_checks(checks);
    if (failed.empty())
        return "";
    for (auto& id : failed)
        id = or_dash(id);
    return error_line("pre-flight checks failed", joined(failed, ", "), "");
}

Json kernel_loaded_json(const KernelLoadRequest& request, const std::string& loaded_cmdline)
{
    Json document = Json::object();
    document["loaded"] = true;
    document["kernel"] = request.kernel;
    document["initrd"] = request.initrd;
    document["cmdline"] = loaded_cmdline;  // as loaded: what --append, --reuse-cmdline and luod made of it
    return document;
}

Json command_exit_json(const std::vector<std::string>& argv, int exit_status)
{
    Json document = Json::object();
    document["command"] = argv.empty() ? std::string() : argv.front();
    document["arguments"] = argv.empty() ? Json::array() : Json(std::vector<std::string>(argv.begin() + 1, argv.end()));
    document["exit_status"] = exit_status;
    return document;
}

Json flag_json(const std::string& key, bool value)
{
    Json document = Json::object();
    document[key] = value;
    return document;
}

std::string json_text(const Json& document)
{
    return document.dump(2, ' ', false, Json::error_handler_t::replace) + '\n';
}

std::string terminal_safe(std::string_view text)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '\n' || c == '\r' || c == '\t') {
            out += ' ';
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

std::string or_dash(std::string_view text)
{
    return text.empty() ? std::string("-") : std::string(text);
}

std::string key_value_text(const std::vector<KeyValue>& rows)
{
    std::size_t key_width = 0;
    for (const auto& row : rows)
        key_width = std::max(key_width, display_width(row.first) + 1);  // + the colon
    std::string text;
    for (const auto& [key, value] : rows) {
        append_padded(text, key + ":", key_width);
        text += ' ';
        text += terminal_safe(value);
        text += '\n';
    }
    return text;
}

std::string table_text(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows)
{
    std::vector<std::size_t> widths(header.size(), 0);
    auto widen = [&widths](const std::vector<std::string>& cells) {
        for (std::size_t column = 0; column < cells.size() && column < widths.size(); ++column)
            widths[column] = std::max(widths[column], display_width(terminal_safe(cells[column])));
    };
    widen(header);
    for (const auto& row : rows)
        widen(row);

    std::string text;
    auto append_row = [&text, &widths](const std::vector<std::string>& cells) {
        for (std::size_t column = 0; column < cells.size() && column < widths.size(); ++column) {
            bool last = column + 1 == cells.size() || column + 1 == widths.size();
            if (column > 0)
                text += kColumnGap;
            if (last)
                text += terminal_safe(cells[column]);
            else
                append_padded(text, terminal_safe(cells[column]), widths[column]);
        }
        // An empty last cell would leave the gap before it dangling.
        while (!text.empty() && text.back() == ' ')
            text.pop_back();
        text += '\n';
    };
    append_row(header);
    for (const auto& row : rows)
        append_row(row);
    return text;
}

std::size_t display_width(std::string_view text)
{
    // UTF-8 continuation bytes are 10xxxxxx; every other byte starts a character.
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

}  // namespace luo::ctl
