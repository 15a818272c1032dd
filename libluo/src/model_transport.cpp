// SPDX-License-Identifier: Apache-2.0
#include "model_transport.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "luo/model_wire.h"
#include "luo/uapi.h"
#include "luo/unique_fd.h"

namespace luo::detail {

using namespace model_wire;

int model_exchange(int sock, std::uint64_t request, std::uint16_t flags,
                   std::span<const std::byte> arg, std::span<const int> payload_fds,
                   ModelReply& reply)
{
    if (arg.size() > kMaxArgBytes || payload_fds.size() > kMaxPayloadFds)
        return -E2BIG;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return -errno;
    UniqueFd mine(pair[0]);
    UniqueFd theirs(pair[1]);

    RequestHeader header{kMagic, kVersion, flags, request, static_cast<std::uint32_t>(arg.size()),
                         static_cast<std::uint32_t>(payload_fds.size())};
    std::vector<std::byte> message(sizeof header + arg.size());
    std::memcpy(message.data(), &header, sizeof header);
    if (!arg.empty())
        std::memcpy(message.data() + sizeof header, arg.data(), arg.size());
    std::vector<int> fds{theirs.get()};
    fds.insert(fds.end(), payload_fds.begin(), payload_fds.end());
    if (int rc = send_datagram(sock, message, fds); rc < 0)
        return rc == -EPIPE || rc == -ENOTCONN ? -ECONNRESET : rc;
    theirs.reset();  // only the model holds the reply end now: its close means "no reply"

    Datagram in;
    if (int rc = recv_datagram(mine.get(), sizeof(ReplyHeader) + kMaxArgBytes, 1, in); rc < 0)
        return rc;
    if (in.eof)
        return -ECONNRESET;
    ReplyHeader rh;
    if (in.bytes.size() < sizeof rh)
        return -EPROTO;
    std::memcpy(&rh, in.bytes.data(), sizeof rh);
    if (rh.magic != kMagic || in.bytes.size() != sizeof rh + rh.arg_len)
        return -EPROTO;
    if (in.truncated)
        return -EMFILE;  // the fd did not fit: the model sees it closed, like a failed install
    reply.result = rh.result;
    reply.arg.assign(in.bytes.begin() + sizeof rh, in.bytes.end());
    reply.fd_offset = rh.fd_offset;
    reply.fd = in.fds.empty() ? -1 : in.fds.front().release();
    return 0;
}

int model_ioctl(int sock, unsigned long request, void* arg) noexcept
{
    std::uint16_t flags = 0;
    std::uint32_t size = 0;
    std::vector<std::byte> bytes;
    std::vector<int> payload;
    if (!arg) {
        flags |= kFlagArgFault;
    } else {
        std::memcpy(&size, arg, sizeof size);
        std::size_t carried = std::clamp<std::size_t>(size, sizeof size, kMaxArgBytes);
        auto* p = static_cast<const std::byte*>(arg);
        bytes.assign(p, p + carried);
        if (size > kMaxArgBytes && std::any_of(p + kMaxArgBytes, p + size, [](std::byte b) { return b != std::byte{0}; }))
            flags |= kFlagTrailingNonZero;
        // PRESERVE_FD names a file by fd: hand the file itself to the model.
        if (request == uapi::kSessionPreserveFd && size >= 8) {
            std::int32_t fd;
            std::memcpy(&fd, p + 4, sizeof fd);
            if (fd < 0 || ::fcntl(fd, F_GETFD) < 0)
                flags |= kFlagFdNotOpen;
            else
                payload.push_back(fd);
        }
    }

    ModelReply reply;
    int rc;
    try {
        rc = model_exchange(sock, request, flags, bytes, payload, reply);
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    }
    if (rc < 0)
        return rc == -ECONNRESET ? -EIO : rc;
    UniqueFd received(reply.fd);
    if (arg && !reply.arg.empty())
        std::memcpy(arg, reply.arg.data(), std::min<std::size_t>(reply.arg.size(), std::max<std::uint32_t>(size, 4)));
    if (reply.result < 0)
        return reply.result;
    if (received && reply.fd_offset >= 0 && arg &&
        static_cast<std::size_t>(reply.fd_offset) + sizeof(std::int32_t) <= size) {
        std::int32_t fd = received.release();
        std::memcpy(static_cast<std::byte*>(arg) + reply.fd_offset, &fd, sizeof fd);
    }
    return 0;
}

}  // namespace luo::detail
