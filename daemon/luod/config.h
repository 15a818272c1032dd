// SPDX-License-Identifier: Apache-2.0
// luod.conf: an INI file (parsed with inih). Every key, its default and meaning is in the
// shipped daemon/luod.conf. Unknown sections or keys and bad values are errors, so a typo
// cannot silently change a limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

namespace luod {

struct Config {
    // [Sessions]
    unsigned max_sessions_per_user = 64;     // outgoing sessions one non-root uid may own
    unsigned max_files_per_session = 1024;   // files luod preserves in one session
    // [Daemon]
    std::size_t manifest_size_mib = 8;       // capacity of the manifest memfd (two slots)
    std::string log_level = "info";
    // [Update]
    std::chrono::seconds unclaimed_timeout{300};  // incoming sessions nobody claims are released
    std::chrono::seconds delay_timeout{30};       // longest wait for delay inhibitors
    std::string strategy = "auto";                // auto, direct, systemd
};

inline constexpr const char* kDefaultConfigPath = "/etc/luod/luod.conf";

// Reads `path` over the defaults. A missing file is fine when `must_exist` is false.
// Throws std::runtime_error naming the file and the problem (section, key, value).
Config load_config(const std::filesystem::path& path, bool must_exist);

// The same from a string (tests, fuzzing); `origin` names it in errors.
Config parse_config(const std::string& text, const std::string& origin);

}  // namespace luod
