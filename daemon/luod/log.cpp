// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <spdlog/sinks/base_sink.h>
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

}  // namespace

void setup(const std::string& program, const std::string& level)
{
    spdlog::sink_ptr sink;
    if (stderr_is_journal())
        sink = std::make_shared<JournalSink>(program);
    else
        sink = std::make_shared<StderrSink>(program);
    auto logger = std::make_shared<spdlog::logger>(program, sink);
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
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
