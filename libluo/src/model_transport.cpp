// SPDX-License-Identifier: Apache-2.0
#include "model_transport.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

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

namespace {

// Copies between this process's memory and a buffer the way the kernel's copy_from_user and
// copy_to_user do: an unmapped address is an error (EFAULT), never a crash.
bool copy_from_user(std::byte* to, const void* from, std::size_t n)
{
    if (n == 0)
        return true;
    iovec local{to, n};
    iovec remote{const_cast<void*>(from), n};
    return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

bool copy_to_user(void* to, const std::byte* from, std::size_t n)
{
    if (n == 0)
        return true;
    iovec local{const_cast<std::byte*>(from), n};
    iovec remote{to, n};
    return ::process_vm_writev(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

// Whether user bytes [from, from + n) are all zero; nullopt if some are unreadable.
std::optional<bool> user_bytes_zero(const std::byte* from, std::size_t n)
{
    std::byte chunk[4096];
    for (std::size_t done = 0; done < n;) {
        std::size_t len = std::min(sizeof chunk, n - done);
        if (!copy_from_user(chunk, from + done, len))
            return std::nullopt;
        if (std::any_of(chunk, chunk + len, [](std::byte b) { return b != std::byte{0}; }))
            return false;
        done += len;
    }
    return true;
}

}  // namespace

int model_ioctl(int sock, unsigned long request, void* arg) noexcept
{
    std::uint16_t flags = 0;
    std::uint32_t size = 0;
    std::vector<std::byte> bytes;
    std::vector<int> payload;
    auto* user = static_cast<std::byte*>(arg);
    try {
        if (!copy_from_user(reinterpret_cast<std::byte*>(&size), user, sizeof size)) {
            flags |= kFlagSizeFault;
        } else {
            std::size_t carried = std::clamp<std::size_t>(size, sizeof size, kMaxArgBytes);
            bytes.resize(carried);
            if (!copy_from_user(bytes.data(), user, carried)) {
                flags |= kFlagBodyFault;
                bytes.resize(sizeof size);
                std::memcpy(bytes.data(), &size, sizeof size);
            } else if (size > kMaxArgBytes) {
                auto zero = user_bytes_zero(user + kMaxArgBytes, size - kMaxArgBytes);
                if (!zero)
                    flags |= kFlagBodyFault;
                else if (!*zero)
                    flags |= kFlagTrailingNonZero;
            }
            // PRESERVE_FD names a file by fd: hand the file itself to the model, as the
            // kernel would look the fd up in the caller's table.
            if (request == uapi::kSessionPreserveFd && bytes.size() >= 8) {
                std::int32_t fd;
                std::memcpy(&fd, bytes.data() + 4, sizeof fd);
                if (fd < 0 || ::fcntl(fd, F_GETFD) < 0)
                    flags |= kFlagFdNotOpen;
                else
                    payload.push_back(fd);
            }
        }

        ModelReply reply;
        int rc = model_exchange(sock, request, flags, bytes, payload, reply);
        if (rc < 0)
            return rc == -ECONNRESET ? -EIO : rc;
        UniqueFd received(reply.fd);
        std::size_t back = std::min<std::size_t>(reply.arg.size(), size);
        if (back > 0 && !copy_to_user(user, reply.arg.data(), back))
            return -EFAULT;
        if (reply.result < 0)
            return reply.result;
        if (received && reply.fd_offset >= 0 &&
            static_cast<std::size_t>(reply.fd_offset) + sizeof(std::int32_t) <= size) {
            std::int32_t fd = received.get();
            if (!copy_to_user(user + reply.fd_offset, reinterpret_cast<const std::byte*>(&fd), sizeof fd))
                return -EFAULT;  // `received` closes it: the model sees the fd go away
            (void)received.release();
        }
        return 0;
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    }
}

}  // namespace luo::detail
