// SPDX-License-Identifier: Apache-2.0
// luod.conf: an INI file (parsed with inih). Every key, its default and meaning is in the
// shipped daemon/luod.conf. Unknown sections or keys and bad values are errors, so a typo
// cannot silently change a limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace luod {

struct Config {
    // [Sessions]
    unsigned max_sessions_per_user = 64;     // outgoing sessions one non-root uid may own
    unsigned max_files_per_session = 1024;   // files luod preserves in one session
    unsigned max_files_per_user = 4096;      // files one non-root uid has luod preserve, in all
    // Bytes one non-root uid has luod preserve (sizes as the kernel pins them, sparse or
    // not): a size, or a per cent of the machine's memory (max_bytes_per_user_percent).
    std::uint64_t max_bytes_per_user = 0;
    unsigned max_bytes_per_user_percent = 25;  // used when max_bytes_per_user is 0
    unsigned sessions_reserved_for_root = 64;  // kernel sessions only root may take
    // Session names starting with one of these only root may take (names are global in the
    // kernel: without it a user may create "vm-prod" before root's VMM does).
    std::vector<std::string> name_prefixes_reserved_for_root;
    // [Daemon]
    std::size_t manifest_size_mib = 8;       // capacity of the manifest memfd (two slots)
    std::string log_level = "info";
    // [Update]
    std::chrono::seconds unclaimed_timeout{300};  // incoming sessions nobody claims are released
    std::chrono::seconds delay_timeout{30};       // longest wait for delay inhibitors
    std::string strategy = "auto";                // auto, direct, systemd
    unsigned max_inhibitors = 1024;               // inhibitors luod holds at once
    unsigned max_inhibitors_per_user = 64;        // inhibitors one non-root uid holds at once
    unsigned inhibitors_reserved_for_root = 64;   // of max_inhibitors, only root may take these

    // The byte quota in bytes: max_bytes_per_user, or its per cent of `memory_bytes`.
    [[nodiscard]] std::uint64_t bytes_per_user(std::uint64_t memory_bytes) const
    {
        return max_bytes_per_user != 0 ? max_bytes_per_user : memory_bytes / 100 * max_bytes_per_user_percent;
    }
};

inline constexpr const char* kDefaultConfigPath = "/etc/luod/luod.conf";

// Reads `path` over the defaults. A missing file is fine when `must_exist` is false.
// Throws std::runtime_error naming the file and the problem (section, key, value).
Config load_config(const std::filesystem::path& path, bool must_exist);

// The same from a string (tests, fuzzing); `origin` names it in errors.
Config parse_config(const std::string& text, const std::string& origin);

// A size as luod.conf writes it: bytes, or with a K, M, G or T suffix (powers of 1024); at
// most 1 PiB (2^50 bytes) either way.
// Pure, for tests and fuzzing.
bool parse_size(const std::string& text, std::uint64_t& bytes);

}  // namespace luod
