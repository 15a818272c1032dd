// SPDX-License-Identifier: Apache-2.0
#include "service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "luo/unique_fd.h"

namespace luo::kmodel {

void notify_service_manager(std::string_view state) noexcept
{
    const char* address = std::getenv("NOTIFY_SOCKET");
    if (address == nullptr || (address[0] != '/' && address[0] != '@')) {
        return;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const std::size_t length = std::strlen(address);
    if (length >= sizeof(sa.sun_path)) {
        return;
    }
    std::memcpy(sa.sun_path, address, length);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0';  // abstract: the length below bounds the name, no terminator
    }
    const auto sa_length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length + (address[0] == '/' ? 1 : 0));
    UniqueFd socket{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (!socket) {
        return;
    }
    (void)::sendto(socket.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa),
                   sa_length);
}

}  // namespace luo::kmodel
