// SPDX-License-Identifier: Apache-2.0
#include "restart_witness.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
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
        // Replay the log: the names held when the last luod stopped.
        std::set<std::string> held;
        std::string line;
        while (std::getline(in, line)) {
            bool removed = !line.empty() && line.front() == '-';
            std::optional<std::string> name = hex_decode(std::string_view(line).substr(removed ? 1 : 0));
            if (!name)
                continue;  // a line cut short by a full disk: what it named is unknown
            if (removed)
                held.erase(*name);
            else
                held.insert(std::move(*name));
        }
        for (const std::string& name : held)
            if (!sessions.find(name))
                lost.push_back(name);
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
    rewrite();
    return lost;
}

void RestartWitness::session_added(const SessionRecord& session)
{
    if (names_.insert(session.name).second)
        append('+', session.name);
}

void RestartWitness::session_removed(const SessionRecord& gone)
{
    if (names_.erase(gone.name) > 0)
        append('-', gone.name);
}

void RestartWitness::append(char mark, const std::string& name)
{
    // More than twice the lines the live names need (and past a floor that keeps small
    // sets from rewriting at every change): start again from the names alone.
    if (!log_ || lines_ + 1 > 2 * names_.size() + 64) {
        rewrite();
        return;
    }
    std::string line = mark == '-' ? "-" : "";
    line += hex_encode(name);
    line += '\n';
    // One write(2) with O_APPEND: a luod killed mid-change leaves a whole line or none.
    ssize_t written = ::write(log_.get(), line.data(), line.size());
    if (written != static_cast<ssize_t>(line.size())) {
        failed(written < 0 ? std::error_code(errno, std::generic_category())
                           : std::make_error_code(std::errc::no_space_on_device));
        return;
    }
    ++lines_;
    writable_ = true;
}

void RestartWitness::rewrite()
{
    log_.reset();
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
    if (!ec) {
        log_ = luo::UniqueFd(::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        if (!log_)
            ec = std::error_code(errno, std::generic_category());
    }
    if (ec) {
        failed(ec);
        return;
    }
    lines_ = names_.size();
    writable_ = true;
}

void RestartWitness::failed(const std::error_code& ec)
{
    // The next change starts from a rewrite, so a file that could not take a line is
    // never left missing it.
    log_.reset();
    if (writable_)
        spdlog::warn("cannot keep the session list in {} ({}): a restart that loses sessions will not be noticed",
                     file_.native(), ec.message());
    writable_ = false;
}

}  // namespace luod
