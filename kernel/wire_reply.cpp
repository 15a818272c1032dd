// SPDX-License-Identifier: Apache-2.0
#include "wire_reply.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <vector>

#include "luo/model_wire.h"

namespace luo::kmodel {

namespace wire = luo::model_wire;

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
