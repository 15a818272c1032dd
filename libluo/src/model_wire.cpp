// SPDX-License-Identifier: Apache-2.0
#include "luo/model_wire.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace luo::model_wire {

int send_datagram(int sock, std::span<const std::byte> bytes, std::span<const int> fds)
{
    iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxPayloadFds + 1))];
    if (fds.size() > kMaxPayloadFds + 1)
        return -E2BIG;
    if (!fds.empty()) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int recv_datagram(int sock, std::size_t max_bytes, std::size_t max_fds, Datagram& out)
{
    out = Datagram{};
    out.bytes.resize(max_bytes);
    iovec iov{out.bytes.data(), out.bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerDatagram)];
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * std::min(max_fds, kMaxFdsPerDatagram));
    ssize_t n;
    for (;;) {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n >= 0)
            break;
        if (errno != EINTR)
            return -errno;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            out.fds.emplace_back(fd);
        }
    }
    if (out.fds.size() > max_fds) {
        out.fds.resize(max_fds);
        out.truncated = true;
    }
    out.truncated = out.truncated || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
    out.bytes.resize(static_cast<std::size_t>(n));
    out.eof = (n == 0 && out.fds.empty());
    return 0;
}

}  // namespace luo::model_wire
