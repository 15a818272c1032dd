// SPDX-License-Identifier: Apache-2.0
// The handover the model passes to the next kernel, in mainline 7.2's layout
// (docs/kernel-abi.md §5): a 32-byte `luo_ser` header ("luo-v5"), then one-page linked
// blocks of 80-byte session entries, each session pointing at its own linked blocks of
// 64-byte file entries.
// "Physical addresses" are byte offsets into the blob (offset 0 is the header, so 0 still
// means "none"). Handler data (memfd_luo_ser etc.) follows the blocks.
//
// Before 7.2 the kernel used an FDT ("luo-v1") instead; the model writes the same block
// layout for every profile but stamps it with that release's compatible string, so a
// handover between mismatched ABIs is refused as it is by the kernel.
//
// Pure functions on bytes: no fds, no model state, so the parser can be fuzzed directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace luo::kmodel {

inline constexpr char kLuoCompatibleV5[] = "luo-v5";  // 7.2+
inline constexpr char kLuoCompatibleV1[] = "luo-v1";  // 6.19-7.1
inline constexpr std::size_t kCompatibleLength = 48;  // LIVEUPDATE_HNDL_COMPAT_LENGTH

struct HandoverFile {
    std::string compatible;            // handler, e.g. "memfd-v2"
    std::uint64_t token = 0;
    std::vector<std::byte> data;       // the handler's serialized struct
};

struct HandoverSession {
    std::string name;
    std::vector<HandoverFile> files;   // preservation order
};

struct Handover {
    std::uint64_t liveupdate_num = 0;
    std::vector<HandoverSession> sessions;  // creation order
};

// `compatible` is the ABI string of the kernel writing it (at most 7 characters).
std::vector<std::byte> serialize_handover(const Handover& handover, std::string_view compatible);

// Size of a handler's serialized struct by compatible string; nullopt when no handler of
// that name is registered in the receiving kernel.
using HandlerDataSize = std::function<std::optional<std::size_t>(std::string_view compatible)>;

// Parses and validates a handover blob. Returns 0, -EINVAL for malformed or incompatible
// data, or -ENOENT when a file's handler is not registered; `out` is filled only on success.
int deserialize_handover(std::span<const std::byte> blob, std::string_view compatible, std::uint32_t max_blocks,
                         const HandlerDataSize& data_size, Handover& out);

}  // namespace luo::kmodel
