// SPDX-License-Identifier: Apache-2.0
#include "restart_witness.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <system_error>

#include "log.h"
#include "message_ids.h"
#include "names.h"

namespace luod {

namespace {

// Session names may hold any byte but NUL: one hex-encoded name per line.
std::string hex_encode(std::string_view text)
{
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() * 2);
    for (unsigned char c : text) {
        out += kDigits[c >> 4];
        out += kDigits[c & 0xf];
    }
    return out;
}

std::optional<std::string> hex_decode(std::string_view hex)
{
    if (hex.size() % 2 != 0)
        return std::nullopt;
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int high = digit(hex[i]), low = digit(hex[i + 1]);
        if (high < 0 || low < 0)
            return std::nullopt;
        out += static_cast<char>(high << 4 | low);
    }
    return out;
}

}  // namespace

RestartWitness::RestartWitness(std::filesystem::path file, std::string boot_id)
    : file_(std::move(file)), boot_id_(std::move(boot_id))
{
}

std::filesystem::path RestartWitness::default_file(const std::filesystem::path& root)
{
    if (const char* runtime = std::getenv("RUNTIME_DIRECTORY"); runtime && *runtime) {
        // systemd may pass several, colon-separated: luod's is the first.
        std::string_view dirs(runtime);
        return std::filesystem::path(std::string(dirs.substr(0, dirs.find(':')))) / "sessions";
    }
    return root / "run/luod/sessions";
}

std::vector<std::string> RestartWitness::check_at_start(const SessionRegistry& sessions, bool fd_store_enabled)
{
    std::vector<std::string> lost;
    std::ifstream in(file_);
    std::string boot;
    if (in && std::getline(in, boot) && boot == boot_id_ && !boot_id_.empty()) {
        std::string line;
        while (std::getline(in, line)) {
            std::optional<std::string> name = hex_decode(line);
            if (name && !sessions.find(*name))
                lost.push_back(*name);
        }
    }
    if (!lost.empty()) {
        for (const std::string& name : lost) {
            log::Fields f{{"LUO_SESSION", name}};
            spdlog::error("session '{}' is lost: luod restarted and did not get it back", printable(name));
        }
        log::Fields f{{"MESSAGE_ID", std::string(message_id::kRestartLostSessions)},
                      {"LUO_LOST_SESSIONS", std::to_string(lost.size())}};
        spdlog::critical("luod restarted {}and lost {} sessions of this boot: {}; their owners' state is gone",
                         fd_store_enabled ? "" : "without a service manager's fd store ", lost.size(),
                         join_bounded(lost, ", "));
    }
    names_.clear();
    for (std::string& name : sessions.names())  // without restoring any (session_registry.h)
        names_.insert(std::move(name));
    write();
    return lost;
}

void RestartWitness::session_added(const SessionRecord& session)
{
    if (names_.insert(session.name).second)
        write();
}

void RestartWitness::session_removed(const SessionRecord& gone)
{
    if (names_.erase(gone.name) > 0)
        write();
}

void RestartWitness::write()
{
    std::error_code ec;
    std::filesystem::create_directories(file_.parent_path(), ec);
    std::filesystem::path next = file_;
    next += ".new";
    {
        std::ofstream out(next, std::ios::trunc);
        out << boot_id_ << '\n';
        for (const std::string& name : names_)
            out << hex_encode(name) << '\n';
        out.flush();
        if (!out)
            ec = std::make_error_code(std::errc::io_error);
    }
    if (!ec)
        std::filesystem::rename(next, file_, ec);
    if (ec && writable_)
        spdlog::warn("cannot keep the session list in {} ({}): a restart that loses sessions will not be noticed",
                     file_.native(), ec.message());
    writable_ = !ec;
}

}  // namespace luod
