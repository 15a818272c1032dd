// SPDX-License-Identifier: Apache-2.0
#include "config.h"

#include <ini.h>

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace luod {

namespace {

struct ParseState {
    Config config;
    std::string error;  // first problem, with its line
};

template <typename T>
bool parse_number(const std::string& value, T min, T max, T& out)
{
    T v{};
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || v < min || v > max)
        return false;
    out = v;
    return true;
}

using Setter = std::function<bool(Config&, const std::string&)>;

Setter unsigned_setter(unsigned Config::*field, unsigned min, unsigned max)
{
    return [=](Config& c, const std::string& v) { return parse_number(v, min, max, c.*field); };
}

Setter seconds_setter(std::chrono::seconds Config::*field, long min, long max)
{
    return [=](Config& c, const std::string& v) {
        long s;
        if (!parse_number(v, min, max, s))
            return false;
        c.*field = std::chrono::seconds(s);
        return true;
    };
}

Setter choice_setter(std::string Config::*field, std::initializer_list<const char*> allowed)
{
    std::vector<std::string> choices(allowed.begin(), allowed.end());
    return [=](Config& c, const std::string& v) {
        for (const auto& choice : choices)
            if (v == choice) {
                c.*field = v;
                return true;
            }
        return false;
    };
}

// NamePrefixesReservedForRoot: prefixes separated by spaces, each 1-62 bytes of letters,
// digits and . _ : @ + - (what any session name may start with, and nothing INI would
// read otherwise); at most 64; empty for none.
bool set_name_prefixes(Config& c, const std::string& v)
{
    std::vector<std::string> prefixes;
    std::size_t at = 0;
    while (at < v.size()) {
        if (v[at] == ' ' || v[at] == '\t') {
            ++at;
            continue;
        }
        std::size_t end = v.find_first_of(" \t", at);
        std::string prefix = v.substr(at, end == std::string::npos ? std::string::npos : end - at);
        at = end == std::string::npos ? v.size() : end;
        if (prefix.size() > 62 || prefix.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                           "0123456789._:@+-") != std::string::npos)
            return false;
        prefixes.push_back(std::move(prefix));
    }
    if (prefixes.size() > 64)
        return false;
    c.name_prefixes_reserved_for_root = std::move(prefixes);
    return true;
}

// MaxBytesPerUser: a size, or a per cent (1-100) of the machine's memory.
bool set_bytes_per_user(Config& c, const std::string& v)
{
    if (!v.empty() && v.back() == '%') {
        unsigned percent;
        if (!parse_number(v.substr(0, v.size() - 1), 1u, 100u, percent))
            return false;
        c.max_bytes_per_user = 0;
        c.max_bytes_per_user_percent = percent;
        return true;
    }
    std::uint64_t bytes;
    if (!parse_size(v, bytes) || bytes == 0)
        return false;
    c.max_bytes_per_user = bytes;
    return true;
}

const std::map<std::string, std::map<std::string, Setter>>& schema()
{
    static const std::map<std::string, std::map<std::string, Setter>> s{
        {"Sessions",
         {{"MaxSessionsPerUser", unsigned_setter(&Config::max_sessions_per_user, 0, 1000000)},
          {"MaxFilesPerSession", unsigned_setter(&Config::max_files_per_session, 1, 1000000)},
          {"MaxFilesPerUser", unsigned_setter(&Config::max_files_per_user, 0, 100000000)},
          {"MaxBytesPerUser", set_bytes_per_user},
          {"SessionsReservedForRoot", unsigned_setter(&Config::sessions_reserved_for_root, 0, 1000000)},
          {"NamePrefixesReservedForRoot", set_name_prefixes}}},
        {"Daemon",
         {{"ManifestSizeMiB",
           [](Config& c, const std::string& v) { return parse_number<std::size_t>(v, 1, 1024, c.manifest_size_mib); }},
          {"LogLevel", choice_setter(&Config::log_level, {"trace", "debug", "info", "warn", "error"})}}},
        {"Update",
         {{"UnclaimedTimeoutSec", seconds_setter(&Config::unclaimed_timeout, 0, 86400 * 365)},
          {"DelayTimeoutSec", seconds_setter(&Config::delay_timeout, 0, 86400)},
          {"Strategy", choice_setter(&Config::strategy, {"auto", "direct", "systemd", "orderly"})},
          {"MaxInhibitors", unsigned_setter(&Config::max_inhibitors, 1, 1000000)},
          {"MaxInhibitorsPerUser", unsigned_setter(&Config::max_inhibitors_per_user, 0, 1000000)},
          {"InhibitorsReservedForRoot", unsigned_setter(&Config::inhibitors_reserved_for_root, 0, 1000000)}}},
    };
    return s;
}

// Debian's inih is built without INI_HANDLER_LINENO; the line comes from ini_parse's result.
int on_entry(void* user, const char* section, const char* name, const char* value)
{
    auto* state = static_cast<ParseState*>(user);
    if (!state->error.empty())
        return 0;
    std::string where;
    auto sec = schema().find(section);
    if (sec == schema().end()) {
        state->error = where + "unknown section [" + std::string(section) + "]";
        return 0;
    }
    auto key = sec->second.find(name);
    if (key == sec->second.end()) {
        state->error = where + "unknown key " + std::string(name) + " in [" + section + "]";
        return 0;
    }
    if (!key->second(state->config, value)) {
        state->error = where + "bad value '" + std::string(value) + "' for " + name;
        return 0;
    }
    return 1;
}

Config finish(ParseState& state, int rc, const std::string& origin)
{
    // inih reports the line of the first entry our handler refused.
    if (!state.error.empty())
        throw std::runtime_error(origin + (rc > 0 ? ": line " + std::to_string(rc) : std::string()) + ": " +
                                 state.error);
    if (rc > 0)
        throw std::runtime_error(origin + ": line " + std::to_string(rc) + ": syntax error");
    if (rc < 0)
        throw std::runtime_error(origin + ": cannot be read");
    return state.config;
}

}  // namespace

bool parse_size(const std::string& text, std::uint64_t& bytes)
{
    if (text.empty())
        return false;
    unsigned shift = 0;
    std::string digits = text;
    switch (text.back()) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift != 0)
        digits.pop_back();
    // One bound on the byte count, whatever the suffix (1 PiB): "5000000000000M" written
    // back as bytes must read the same (the config fuzzer found the two disagreeing).
    constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 50;
    std::uint64_t n;
    if (!parse_number<std::uint64_t>(digits, 0, kMaxBytes >> shift, n))
        return false;
    bytes = n << shift;
    return true;
}

namespace {

// Debian's inih reads at most 199 bytes of a line and parses the rest as a line of its own,
// takes an indented line after a key as a new value for that key, and stops at a NUL byte:
// each would make luod read something other than what the file says, so each is refused
// with its line.
constexpr std::size_t kMaxLineBytes = 199;

void check_lines(const std::string& text, const std::string& origin)
{
    bool after_key = false;  // inih's "previous name", which an indented line would continue
    std::size_t number = 0;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos)
            end = text.size();
        std::string_view line(text.data() + at, end - at);
        at = end + 1;
        ++number;
        auto fail = [&](const std::string& why) {
            throw std::runtime_error(origin + ": line " + std::to_string(number) + ": " + why);
        };
        if (line.find('\0') != std::string_view::npos)
            fail("contains a NUL byte");
        std::size_t last = line.find_last_not_of(" \t\r\v\f");
        if (last != std::string_view::npos && last + 1 > kMaxLineBytes)
            fail("longer than " + std::to_string(kMaxLineBytes) + " bytes");
        if (number == 1 && line.starts_with("\xEF\xBB\xBF"))  // inih skips a UTF-8 byte order mark
            line.remove_prefix(3);
        std::size_t first = line.find_first_not_of(" \t\r\v\f");
        if (first == std::string_view::npos || line[first] == ';' || line[first] == '#')
            continue;
        if (line[first] == '[')
            after_key = false;
        else if (first > 0 && after_key)
            fail("an indented line would continue the value above; write each key=value on one line");
        else
            after_key = true;
    }
}

// The text without the white space at the end of its lines, which inih drops from names and
// values anyway: after check_lines() no line is left longer than inih reads, whatever it does
// with one (Debian 12's inih parses the rest as a line of its own, Debian 13's calls it a
// syntax error).
std::string without_trailing_space(const std::string& text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        std::size_t end = text.find('\n', at);
        bool last_line = end == std::string::npos;
        if (last_line)
            end = text.size();
        std::string_view line(text.data() + at, end - at);
        std::size_t keep = line.find_last_not_of(" \t\r\v\f");
        out.append(line.substr(0, keep == std::string_view::npos ? 0 : keep + 1));
        if (!last_line)
            out.push_back('\n');
        at = end + 1;
    }
    return out;
}

}  // namespace

Config parse_config(const std::string& text, const std::string& origin)
{
    check_lines(text, origin);
    ParseState state;
    int rc = ini_parse_string(without_trailing_space(text).c_str(), on_entry, &state);
    return finish(state, rc, origin);
}

Config load_config(const std::filesystem::path& path, bool must_exist)
{
    std::ifstream in(path);
    if (!in) {
        if (!must_exist)
            return Config{};
        throw std::runtime_error(path.native() + ": cannot be read");
    }
    std::stringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), path.native());
}

}  // namespace luod
