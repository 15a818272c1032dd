// SPDX-License-Identifier: Apache-2.0
// Fuzz target: luod's config file reader (daemon/luod/config.h parse_config), on the text
// of /etc/luod/luod.conf. A refusal is a std::runtime_error naming the origin; an accepted
// file gives values within the documented ranges, and writing those values back as a
// config file and parsing it again gives the same configuration.
//
// The INI parsing itself is Debian's libinih, which is not instrumented: coverage comes
// from luod's callback and value parsing.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.h"
#include "fuzz_util.h"

namespace {

bool parse(const std::string& text, luod::Config& out)
{
    try {
        out = luod::parse_config(text, "fuzz.conf");
        return true;
    } catch (const std::runtime_error& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.conf: "));
        return false;
    }
}

std::string joined(const std::vector<std::string>& words)
{
    std::string out;
    for (const std::string& w : words)
        out += (out.empty() ? "" : " ") + w;
    return out;
}

std::string render(const luod::Config& c)
{
    return "[Sessions]\nMaxSessionsPerUser=" + std::to_string(c.max_sessions_per_user) +
           "\nMaxFilesPerSession=" + std::to_string(c.max_files_per_session) +
           "\nMaxFilesPerUser=" + std::to_string(c.max_files_per_user) + "\nMaxBytesPerUser=" +
           (c.max_bytes_per_user != 0 ? std::to_string(c.max_bytes_per_user)
                                      : std::to_string(c.max_bytes_per_user_percent) + "%") +
           "\nSessionsReservedForRoot=" + std::to_string(c.sessions_reserved_for_root) +
           "\nNamePrefixesReservedForRoot=" + joined(c.name_prefixes_reserved_for_root) +
           "\n[Daemon]\nManifestSizeMiB=" + std::to_string(c.manifest_size_mib) + "\nLogLevel=" + c.log_level +
           "\n[Update]\nUnclaimedTimeoutSec=" + std::to_string(c.unclaimed_timeout.count()) +
           "\nDelayTimeoutSec=" + std::to_string(c.delay_timeout.count()) + "\nStrategy=" + c.strategy +
           "\nMaxInhibitors=" + std::to_string(c.max_inhibitors) +
           "\nMaxInhibitorsPerUser=" + std::to_string(c.max_inhibitors_per_user) +
           "\nInhibitorsReservedForRoot=" + std::to_string(c.inhibitors_reserved_for_root) + "\n";
}

bool same(const luod::Config& a, const luod::Config& b)
{
    return a.max_sessions_per_user == b.max_sessions_per_user && a.max_files_per_session == b.max_files_per_session &&
           a.manifest_size_mib == b.manifest_size_mib && a.log_level == b.log_level &&
           a.unclaimed_timeout == b.unclaimed_timeout && a.delay_timeout == b.delay_timeout && a.strategy == b.strategy &&
           a.max_files_per_user == b.max_files_per_user && a.max_bytes_per_user == b.max_bytes_per_user &&
           (a.max_bytes_per_user != 0 || a.max_bytes_per_user_percent == b.max_bytes_per_user_percent) &&
           a.sessions_reserved_for_root == b.sessions_reserved_for_root && a.max_inhibitors == b.max_inhibitors &&
           a.max_inhibitors_per_user == b.max_inhibitors_per_user &&
           a.inhibitors_reserved_for_root == b.inhibitors_reserved_for_root &&
           a.name_prefixes_reserved_for_root == b.name_prefixes_reserved_for_root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string text(reinterpret_cast<const char*>(data), size);
    luod::Config c;
    if (!parse(text, c))
        return 0;
    // The ranges of the shipped luod.conf.
    FUZZ_CHECK(c.max_sessions_per_user <= 1000000);
    FUZZ_CHECK(c.max_files_per_session >= 1 && c.max_files_per_session <= 1000000);
    FUZZ_CHECK(c.manifest_size_mib >= 1 && c.manifest_size_mib <= 1024);
    FUZZ_CHECK(c.log_level == "trace" || c.log_level == "debug" || c.log_level == "info" || c.log_level == "warn" ||
               c.log_level == "error");
    FUZZ_CHECK(c.unclaimed_timeout.count() >= 0 && c.unclaimed_timeout.count() <= 86400 * 365);
    FUZZ_CHECK(c.delay_timeout.count() >= 0 && c.delay_timeout.count() <= 86400);
    FUZZ_CHECK(c.strategy == "auto" || c.strategy == "direct" || c.strategy == "systemd");
    FUZZ_CHECK(c.max_bytes_per_user != 0 || (c.max_bytes_per_user_percent >= 1 && c.max_bytes_per_user_percent <= 100));
    FUZZ_CHECK(c.max_inhibitors >= 1);

    luod::Config again;
    FUZZ_CHECK_MSG(parse(render(c), again), "the accepted values do not parse back");
    FUZZ_CHECK_MSG(same(c, again), "the accepted values parse back differently");
    return 0;
}
