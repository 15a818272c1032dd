// SPDX-License-Identifier: Apache-2.0
// Client side of the model wire protocol (see luo/model_wire.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace luo::detail {

struct ModelReply {
    int result = 0;                 // 0 or -errno
    std::vector<std::byte> arg;     // copied-out argument bytes
    int fd_offset = -1;
    int fd = -1;                    // received fd (owned by the caller) or -1
};

// One request/reply exchange on a model socket (device, session or syscall socket).
// Returns 0 or -errno for transport failures; `reply.result` carries the model's answer.
// A socket closed without reply gives -ECONNRESET.
int model_exchange(int sock, std::uint64_t request, std::uint16_t flags,
                   std::span<const std::byte> arg, std::span<const int> payload_fds,
                   ModelReply& reply);

// ioctl(2) emulation on a model device or session socket.
int model_ioctl(int sock, unsigned long request, void* arg) noexcept;

}  // namespace luo::detail
