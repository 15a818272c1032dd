// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace luod::log {

namespace {

std::vector<std::pair<std::string, std::string>>& fields_in_scope()
{
    thread_local std::vector<std::pair<std::string, std::string>> fields;
    return fields;
}

// A log line is one line: control characters (a caller's newline or terminal escape that
// slipped through) are written as \xNN, so nothing can forge a line or restyle a terminal.
std::string one_line(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

int syslog_priority(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return LOG_DEBUG;
    case spdlog::level::info: return LOG_INFO;
    case spdlog::level::warn: return LOG_WARNING;
    case spdlog::level::err: return LOG_ERR;
    default: return LOG_CRIT;
    }
}

// Journal entries with the fields in scope (the spdlog systemd sink has no custom fields).
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit JournalSink(std::string identifier) : identifier_("SYSLOG_IDENTIFIER=" + std::move(identifier)) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        std::vector<std::string> entries;
        entries.push_back("MESSAGE=" + one_line(std::string_view(msg.payload.data(), msg.payload.size())));
        entries.push_back("PRIORITY=" + std::to_string(syslog_priority(msg.level)));
        entries.push_back(identifier_);
        for (const auto& [key, value] : fields_in_scope())
            if (!value.empty())
                entries.push_back(key + "=" + one_line(value));
        std::vector<iovec> iov;
        for (auto& e : entries)
            iov.push_back(iovec{e.data(), e.size()});
        ::sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    }
    void flush_() override {}

private:
    std::string identifier_;
};

// "luod: info: message [session=x owner_uid=0]" on stderr.
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit StderrSink(std::string program) : program_(std::move(program)) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        std::string line = program_ + ": " + std::string(spdlog::level::to_string_view(msg.level).data()) + ": " +
                           one_line(std::string_view(msg.payload.data(), msg.payload.size()));
        std::string extra;
        for (const auto& [key, value] : fields_in_scope()) {
            if (value.empty())
                continue;
            std::string name = key.rfind("LUO_", 0) == 0 ? key.substr(4) : key;
            for (auto& c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            extra += (extra.empty() ? "" : " ") + name + "=" + one_line(value);
        }
        if (!extra.empty())
            line += " [" + extra + "]";
        line += "\n";
        std::fputs(line.c_str(), stderr);
    }
    void flush_() override { std::fflush(stderr); }

private:
    std::string program_;
};

// Under systemd stderr is already the journal; talk to it directly to keep the fields.
bool stderr_is_journal()
{
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (!stream)
        return false;
    unsigned long dev = 0, ino = 0;
    struct stat st;
    return std::sscanf(stream, "%lu:%lu", &dev, &ino) == 2 && ::fstat(STDERR_FILENO, &st) == 0 &&
           st.st_dev == dev && st.st_ino == ino;
}

spdlog::sink_ptr sink_for(Target target, const std::string& program)
{
    switch (target) {
    case Target::journal: return std::make_shared<JournalSink>(program);
    case Target::null: return std::make_shared<spdlog::sinks::null_sink_mt>();
    case Target::console: break;
    }
    return std::make_shared<StderrSink>(program);
}

// A new logger rather than a changed one: set_default_logger() is safe while another thread
// (the fd reaper) logs, swapping a logger's sinks is not.
void install(const std::string& program, Target target, spdlog::level::level_enum level)
{
    auto logger = std::make_shared<spdlog::logger>(program, sink_for(target, program));
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

struct SyslogLevel {
    std::string_view name;
    spdlog::level::level_enum level;
};
// spdlog has no notice, alert or emerg: the nearest level that logs no less.
constexpr SyslogLevel kSyslogLevels[] = {
    {"emerg", spdlog::level::critical}, {"alert", spdlog::level::critical}, {"crit", spdlog::level::critical},
    {"err", spdlog::level::err},        {"warning", spdlog::level::warn},   {"notice", spdlog::level::info},
    {"info", spdlog::level::info},      {"debug", spdlog::level::debug},
};

}  // namespace

void setup(const std::string& program, const std::string& level)
{
    install(program, stderr_is_journal() ? Target::journal : Target::console, spdlog::level::from_str(level));
}

std::optional<spdlog::level::level_enum> level_from_syslog_name(std::string_view name)
{
    for (const auto& l : kSyslogLevels)
        if (l.name == name)
            return l.level;
    return std::nullopt;
}

std::string_view syslog_name_of(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warning";
    case spdlog::level::err: return "err";
    case spdlog::level::critical: return "crit";
    default: return "emerg";  // off: nothing is logged, as at the most severe level there is
    }
}

void set_level(spdlog::level::level_enum level) { spdlog::default_logger()->set_level(level); }

std::optional<Target> target_from_name(std::string_view name)
{
    if (name == "console")
        return Target::console;
    if (name == "journal")
        return Target::journal;
    if (name == "null")
        return Target::null;
    if (name == "auto")
        return stderr_is_journal() ? Target::journal : Target::console;
    return std::nullopt;
}

std::string_view name_of(Target target)
{
    switch (target) {
    case Target::journal: return "journal";
    case Target::null: return "null";
    case Target::console: break;
    }
    return "console";
}

void set_target(Target target)
{
    auto current = spdlog::default_logger();
    install(current->name(), target, current->level());
}

Target current_target()
{
    const auto& sinks = spdlog::default_logger()->sinks();
    if (sinks.empty())
        return Target::null;
    if (std::dynamic_pointer_cast<JournalSink>(sinks.front()))
        return Target::journal;
    if (std::dynamic_pointer_cast<spdlog::sinks::null_sink_mt>(sinks.front()))
        return Target::null;
    return Target::console;
}

Fields::Fields(std::initializer_list<std::pair<std::string, std::string>> fields) : added_(fields.size())
{
    auto& all = fields_in_scope();
    all.insert(all.end(), fields.begin(), fields.end());
}

Fields::~Fields()
{
    auto& all = fields_in_scope();
    all.resize(all.size() - added_);
}

const std::vector<std::pair<std::string, std::string>>& current_fields() { return fields_in_scope(); }

}  // namespace luod::log
