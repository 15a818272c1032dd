// SPDX-License-Identifier: Apache-2.0
// The model under a service manager: the readiness it sends to $NOTIFY_SOCKET (units/
// luo-kernel-model.service is Type=notify), spoken by the model itself, without libsystemd.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "luo_catch.h"
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness.h"

using namespace luo;
using namespace luo::test;

namespace {

// Plays the service manager's notification socket at `address` (a path, or "@name" for the
// abstract namespace, as in $NOTIFY_SOCKET).
class NotifySocket {
public:
    explicit NotifySocket(const std::string& address) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0))
    {
        REQUIRE(fd_);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        REQUIRE(address.size() < sizeof(sa.sun_path));
        std::memcpy(sa.sun_path, address.data(), address.size());
        socklen_t length = offsetof(sockaddr_un, sun_path) + address.size() + 1;
        if (address[0] == '@') {
            sa.sun_path[0] = '\0';
            length -= 1;
        }
        REQUIRE(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&sa), length) == 0);
        // A guard against a hang when the model never notifies, not a timing assertion.
        timeval guard{.tv_sec = 120, .tv_usec = 0};
        REQUIRE(::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard) == 0);
    }
    std::string receive() const
    {
        char buffer[4096];
        ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
        return n < 0 ? std::string{} : std::string(buffer, static_cast<std::size_t>(n));
    }

private:
    UniqueFd fd_;
};

}  // namespace

TEST_CASE("model: sends READY=1 and its kernel release to $NOTIFY_SOCKET, a path or an abstract name")
{
    TempDir dir;
    const std::string address = GENERATE_COPY(std::string("path"), std::string("abstract")) == "path"
        ? (dir.path() / "notify").native()
        : "@luo-test-notify-" + std::to_string(::getpid());
    NotifySocket manager(address);
    ::setenv("NOTIFY_SOCKET", address.c_str(), 1);
    ModelProcess model;
    ::unsetenv("NOTIFY_SOCKET");

    const std::string message = manager.receive();
    INFO("notification: " << message);
    CHECK(message.starts_with("READY=1\n"));
    CHECK(message.find("STATUS=kernel 7.2") != std::string::npos);
    CHECK(model.alive());
}
