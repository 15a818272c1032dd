// SPDX-License-Identifier: Apache-2.0
// Kernel releases the model can be: limits and behaviour that differ between them
// (docs/kernel-abi.md §1.5, §2, §9).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace luo::kmodel {

struct Profile {
    std::string name;                     // "6.19", "7.1", "7.2"
    bool linked_blocks = false;           // 7.2: block-set limits (ENOSPC) instead of fixed arrays
    bool get_name = false;                // 7.2: LIVEUPDATE_SESSION_GET_NAME
    bool validates_names = false;         // 7.2: empty/unterminated names -> EINVAL
    bool checks_session_kind = false;     // 7.2: wrong-kind session ioctls -> EINVAL
    bool checks_finish_reserved = false;  // 7.2.13 (not 6.19/7.0): FINISH with reserved != 0 -> EINVAL
    bool rejects_double_preserve = false; // 7.1: EBUSY for a file managed anywhere
    bool sticky_retrieve = false;         // 7.0: a failed retrieve keeps failing
    bool memfd_seals = false;             // 7.1: seals preserved, unknown seals -> EOPNOTSUPP
    bool memfd_size_check = false;        // 7.1: EFBIG above UINT_MAX pages
    std::string memfd_compatible;         // "memfd-v1" / "memfd-v2"
    std::string luo_compatible;           // handover ABI: "luo-v1" (FDT era) / "luo-v5"

    // Fixed arrays before 7.2 (4 KiB pages): 16 pages of 80-byte session entries after an
    // 8-byte header, 2 pages of 64-byte file entries.
    std::uint32_t max_sessions_fixed = 0;
    std::uint32_t max_files_fixed = 0;

    [[nodiscard]] std::uint8_t last_session_nr() const { return get_name ? 0x43 : 0x42; }
};

// Known profiles; nullopt for an unknown name.
std::optional<Profile> find_profile(std::string_view name);
inline constexpr std::string_view kDefaultProfile = "7.2";

// 7.2 linked blocks: one page each, 16-byte header.
inline constexpr std::uint32_t kBlockSize = 4096;
inline constexpr std::uint32_t kBlockHeaderSize = 16;
inline constexpr std::uint32_t kSessionEntrySize = 80;
inline constexpr std::uint32_t kFileEntrySize = 64;
inline constexpr std::uint32_t kSessionsPerBlock = (kBlockSize - kBlockHeaderSize) / kSessionEntrySize;  // 51
inline constexpr std::uint32_t kFilesPerBlock = (kBlockSize - kBlockHeaderSize) / kFileEntrySize;        // 63
inline constexpr std::uint32_t kDefaultMaxBlocks = 10000;

}  // namespace luo::kmodel
