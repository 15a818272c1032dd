// SPDX-License-Identifier: Apache-2.0
#include "wire_request.h"

#include <spdlog/spdlog.h>

#include <cstring>

namespace luo::kmodel {

namespace wire = luo::model_wire;

bool parse_request(wire::Datagram& d, WireRequest& out)
{
    wire::RequestHeader header;
    if (d.truncated || d.bytes.size() < sizeof header || d.fds.empty())
        return false;
    std::memcpy(&header, d.bytes.data(), sizeof header);
    if (header.magic != wire::kMagic || header.version != wire::kVersion || header.arg_len > wire::kMaxArgBytes ||
        d.bytes.size() != sizeof header + header.arg_len || header.nfds != d.fds.size() - 1)
        return false;
    out.header = header;
    out.arg = std::span<const std::byte>(d.bytes).subspan(sizeof header);
    out.reply = std::move(d.fds.front());
    out.payload.clear();
    for (std::size_t i = 1; i < d.fds.size(); ++i)
        out.payload.push_back(std::move(d.fds[i]));
    return true;
}

void send_reply(int reply_sock, int result, std::span<const std::byte> arg, int fd_offset, int fd)
{
    wire::ReplyHeader h{wire::kMagic, result, static_cast<std::uint32_t>(arg.size()), fd_offset};
    std::vector<std::byte> msg(sizeof h + arg.size());
    std::memcpy(msg.data(), &h, sizeof h);
    if (!arg.empty())
        std::memcpy(msg.data() + sizeof h, arg.data(), arg.size());
    std::vector<int> fds;
    if (fd >= 0)
        fds.push_back(fd);
    // The caller may be gone; its new fd then dies with the message.
    if (int rc = wire::send_datagram(reply_sock, msg, fds); rc < 0)
        spdlog::debug("reply not delivered: {}", std::strerror(-rc));
}

}  // namespace luo::kmodel
