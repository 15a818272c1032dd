// SPDX-License-Identifier: Apache-2.0
// Private to luo::Client: the bus connection a Client shares with its sessions, the generated
// proxies on it, and the conversions at the sdbus-c++ boundary (errors, fds). Only the
// client's sources include sdbus-c++; the public header does not.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "luo-dbus/manager-proxy.h"
#include "luo-dbus/sdbus_compat.h"
#include "luo-dbus/session-proxy.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/device.h"
#include "luo/unique_fd.h"

// Everything below is internal to libluo: keep it out of the shared library's exports.
#pragma GCC visibility push(hidden)

namespace luo::client_detail {

// Which bus: the system bus, or the one at an explicit address.
using BusAddress = std::optional<std::string>;

std::unique_ptr<sdbus::IConnection> open_connection(const BusAddress& address);

// The connection for method calls. No event loop ever runs on it (signals get a connection
// of their own), so each call is a plain blocking sd_bus_call with its timeout, never the
// cross-thread path of sdbus-c++ 1.2. The mutex serializes callers: without it, 1.2 makes a
// second caller spin until the first call returns.
struct CallBus {
    explicit CallBus(const BusAddress& bus_address) : address(bus_address), connection(open_connection(bus_address)) {}
    BusAddress address;
    std::mutex mutex;
    std::unique_ptr<sdbus::IConnection> connection;
};

// Runs fn, turning sdbus-c++'s errors into ClientError with the same name and message.
template <typename Fn>
auto translate_errors(Fn&& fn) -> decltype(fn())
{
    try {
        return fn();
    } catch (const sdbus::Error& e) {
        throw ClientError(e.getName(), e.getMessage());
    }
}

// Manager methods and properties through the generated proxy. registerProxy() is never
// called: it would subscribe the generated signal handlers on a connection that runs no
// event loop, where the signals would pile up unread. PrepareForUpdate is received on the
// signal connection instead (client.cpp).
class ManagerCalls final : public sdbus::ProxyInterfaces<org::luod::LiveUpdate1::Manager_proxy> {
public:
    explicit ManagerCalls(sdbus::IConnection& connection)
        : base_type(connection, sdbus_compat::service_name(dbus::kBusName), sdbus_compat::object_path(dbus::kManagerPath))
    {
    }
    ManagerCalls(const ManagerCalls&) = delete;
    ManagerCalls& operator=(const ManagerCalls&) = delete;
    ~ManagerCalls() { unregisterProxy(); }

private:
    void onSessionNew(const std::string&, const sdbus::ObjectPath&) override {}
    void onSessionRemoved(const std::string&, const sdbus::ObjectPath&) override {}
    void onPrepareForUpdate(const bool&) override {}
    void onUpdateFailed(const std::string&) override {}
};

class SessionCalls final : public sdbus::ProxyInterfaces<org::luod::LiveUpdate1::Session_proxy> {
public:
    SessionCalls(sdbus::IConnection& connection, const std::string& path)
        : base_type(connection, sdbus_compat::service_name(dbus::kBusName), sdbus_compat::object_path(path))
    {
        registerProxy();
    }
    SessionCalls(const SessionCalls&) = delete;
    SessionCalls& operator=(const SessionCalls&) = delete;
    ~SessionCalls() { unregisterProxy(); }
};

// An fd received from the bus, owned and with FD_CLOEXEC set (sdbus-c++ 1.2 copies received
// fds with plain dup(), which drops the flag).
UniqueFd take_received_fd(sdbus::UnixFd&& fd);

// A copy of the caller's fd to put into a message (with FD_CLOEXEC; the caller keeps fd).
// An fd that is not open is refused with InvalidArgs before anything is sent.
sdbus::UnixFd fd_to_send(int fd);

}  // namespace luo::client_detail

namespace luo {

struct __attribute__((visibility("hidden"))) ClientSession::Impl {
    Impl(std::shared_ptr<client_detail::CallBus> call_bus, std::string session_name, std::string object_path);

    // Declared first so that it outlives the proxy, which refers to its connection.
    std::shared_ptr<client_detail::CallBus> bus;
    std::string name;
    std::string path;
    client_detail::SessionCalls calls;
    // A duplicate of the incoming kernel session fd, taken by the first retrieve().
    Session acquired;
};

}  // namespace luo

#pragma GCC visibility pop
