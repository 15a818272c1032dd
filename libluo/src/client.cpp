// SPDX-License-Identifier: Apache-2.0
#include "luo/client.h"

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "luo/error.h"
#include "client_bus.h"
#include "luo/dbus_api.h"

namespace luo {

ClientError::ClientError(std::string name, std::string message)
    : std::runtime_error(name + ": " + message), name_(std::move(name)), message_(std::move(message))
{
}

namespace client_detail {

std::unique_ptr<sdbus::IConnection> open_connection(const BusAddress& address)
{
    return translate_errors([&] {
        // sd-bus reads DBUS_SYSTEM_BUS_ADDRESS itself.
        return address ? sdbus::createSessionBusConnectionWithAddress(*address) : sdbus::createSystemBusConnection();
    });
}

UniqueFd take_received_fd(sdbus::UnixFd&& fd)
{
    UniqueFd owned(fd.release());
    if (!owned)
        throw ClientError(dbus::error::kFailed, "luod returned no file descriptor");
    if (::fcntl(owned.get(), F_SETFD, FD_CLOEXEC) < 0)
        throw ClientError(dbus::error::kFailed, std::string("fcntl(F_SETFD): ") + std::strerror(errno));
    return owned;
}

sdbus::UnixFd fd_to_send(int fd)
{
    int copy = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        throw ClientError(dbus::error::kInvalidArgs, "fd " + std::to_string(fd) + " is not open");
    return sdbus::UnixFd(copy, sdbus::adopt_fd);
}

}  // namespace client_detail

using client_detail::translate_errors;

// Internal to libluo, like everything in client_bus.h.
struct __attribute__((visibility("hidden"))) Client::Impl {
    explicit Impl(const client_detail::BusAddress& address)
        : bus(std::make_shared<client_detail::CallBus>(address)), manager(*bus->connection)
    {
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { stop_signals(); }

    // Runs one manager call under the bus lock, with errors translated.
    template <typename Fn>
    auto call(Fn&& fn) -> decltype(fn())
    {
        std::lock_guard lock(bus->mutex);
        return translate_errors(fn);
    }

    void start_signals();
    void stop_signals() noexcept;
    void dispatch_prepare_for_update(bool start);

    // Declared first so that it outlives every proxy on its connection.
    std::shared_ptr<client_detail::CallBus> bus;
    client_detail::ManagerCalls manager;

    // PrepareForUpdate: a connection of its own with its own loop thread, so that a slow
    // handler never holds up method calls and calls never wait for the loop thread.
    std::mutex signal_mutex;  // guards the members below
    std::function<void(bool)> prepare_handler;
    std::unique_ptr<sdbus::IConnection> signal_connection;
    std::unique_ptr<sdbus::IProxy> signal_proxy;
    std::thread signal_thread;
};

void Client::Impl::start_signals()
{
    // Built in locals so that a failure leaves nothing half set up (the proxy must die before
    // its connection).
    auto [connection, proxy] = translate_errors([&] {
        auto conn = client_detail::open_connection(bus->address);
        auto prox = sdbus_compat::create_proxy(*conn, dbus::kBusName, dbus::kManagerPath);
        prox->uponSignal("PrepareForUpdate").onInterface(dbus::kManagerInterface).call([this](bool start) {
            dispatch_prepare_for_update(start);
        });
        // Adds the match rule (sender = luod's bus name) synchronously: from here on no
        // signal is missed, even before the loop thread runs.
        sdbus_compat::finish_proxy_registration(*prox);
        return std::pair(std::move(conn), std::move(prox));
    });
    signal_connection = std::move(connection);
    signal_proxy = std::move(proxy);
    // Our own thread rather than enterEventLoopAsync(): a lost bus connection throws out of
    // the loop, which in sdbus-c++'s thread would terminate the process.
    signal_thread = std::thread([loop = signal_connection.get()] {
        try {
            loop->enterEventLoop();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "luo::Client: no more PrepareForUpdate signals: %s\n", e.what());
        }
    });
}

void Client::Impl::stop_signals() noexcept
{
    if (!signal_thread.joinable())
        return;
    try {
        signal_connection->leaveEventLoop();
    } catch (const std::exception&) {
        // The loop has ended already (lost connection); join below returns at once.
    }
    signal_thread.join();
    signal_proxy.reset();
    signal_connection.reset();
}

void Client::Impl::dispatch_prepare_for_update(bool start)
{
    std::function<void(bool)> handler;
    {
        std::lock_guard lock(signal_mutex);
        handler = prepare_handler;
    }
    if (!handler)
        return;
    // An exception must not unwind through sd-bus's dispatch loop.
    try {
        handler(start);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luo::Client: PrepareForUpdate handler failed: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "luo::Client: PrepareForUpdate handler failed\n");
    }
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Client Client::connect() { return Client(std::make_unique<Impl>(std::nullopt)); }

Client Client::connect(const std::string& address) { return Client(std::make_unique<Impl>(address)); }

Client::Impl& Client::impl()
{
    if (!impl_)
        throw ClientError(dbus::error::kInvalidState, "luo::Client was moved from");
    return *impl_;
}

ClientSession Client::create_session(const std::string& name)
{
    Impl& i = impl();
    std::string path = i.call([&] { return i.manager.CreateSession(name, {}); });
    return ClientSession(std::make_unique<ClientSession::Impl>(i.bus, name, path));
}

ClientSession Client::get_session(const std::string& name)
{
    Impl& i = impl();
    std::string path = i.call([&] { return i.manager.GetSession(name); });
    return ClientSession(std::make_unique<ClientSession::Impl>(i.bus, name, path));
}

ClientSession Client::retrieve_session(const std::string& name)
{
    Impl& i = impl();
    std::string path = i.call([&] { return i.manager.RetrieveSession(name); });
    return ClientSession(std::make_unique<ClientSession::Impl>(i.bus, name, path));
}

ClientSession Client::open_session(const std::string& name, Opened* how)
{
    auto report = [how](Opened opened) {
        if (how)
            *how = opened;
    };
    auto find = [&]() -> std::optional<ClientSession> {
        try {
            return get_session(name);
        } catch (const ClientError& e) {
            if (e.name() != dbus::error::kNoSuchSession)
                throw;
            return std::nullopt;
        }
    };
    // An existing session is incoming when an earlier run of the service claimed it already
    // (the claim is luod's, not the process's), else the outgoing one luod kept for us.
    auto existing = [&](ClientSession session) {
        report(session_kind_from_string(session.kind()) == SessionKind::incoming ? Opened::incoming : Opened::reopened);
        return session;
    };

    try {
        ClientSession session = retrieve_session(name);
        report(Opened::incoming);
        return session;
    } catch (const ClientError& retrieve_error) {
        // NoSuchSession: nothing came across an update under this name. InvalidState: the
        // name is taken by an outgoing session, or the incoming one is claimed already.
        if (retrieve_error.name() != dbus::error::kNoSuchSession && retrieve_error.name() != dbus::error::kInvalidState)
            throw;
        if (std::optional<ClientSession> found = find()) {
            // Incoming, unclaimed, yet not claimable: RetrieveSession's error explains why.
            // Incoming and not yet claimed (state "incoming").
            if (session_kind_from_string(found->kind()) == SessionKind::incoming && found->state() == "incoming")
                throw;
            return existing(std::move(*found));
        }
    }

    try {
        ClientSession session = create_session(name);
        report(Opened::created);
        return session;
    } catch (const ClientError& create_error) {
        // Another instance of the service created it in the meantime.
        if (create_error.name() != dbus::error::kSessionExists)
            throw;
        return existing(get_session(name));
    }
}

std::vector<SessionInfo> Client::list_sessions()
{
    Impl& i = impl();
    auto listed = i.call([&] { return i.manager.ListSessions(); });
    std::vector<SessionInfo> sessions;
    sessions.reserve(listed.size());
    for (auto& entry : listed) {
        sessions.push_back(SessionInfo{std::move(std::get<0>(entry)), std::move(std::get<1>(entry)), std::get<2>(entry),
                                       std::move(std::get<3>(entry)), std::move(std::get<4>(entry))});
    }
    return sessions;
}

std::string Client::state()
{
    Impl& i = impl();
    return i.call([&] { return i.manager.State(); });
}

UniqueFd Client::inhibit(const std::string& who, const std::string& why, const std::string& mode)
{
    Impl& i = impl();
    sdbus::UnixFd fd = i.call([&] { return i.manager.Inhibit("update", who, why, mode); });
    return client_detail::take_received_fd(std::move(fd));
}

UpdateSignalPipe::UpdateSignalPipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        throw_last_errno("pipe2");
    read_end_.reset(fds[0]);
    write_end_.reset(fds[1]);
}

void UpdateSignalPipe::post(bool start) const noexcept
{
    char c = start ? '1' : '0';
    // Only a full pipe (thousands of unread signals) fails; one more lost does no harm.
    [[maybe_unused]] ssize_t n = ::write(write_end_.get(), &c, 1);
}

std::vector<bool> UpdateSignalPipe::take() const
{
    std::vector<bool> starts;
    char buf[64];
    ssize_t n;
    while ((n = ::read(read_end_.get(), buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; ++i)
            starts.push_back(buf[i] == '1');
    return starts;
}

void Client::on_prepare_for_update(std::function<void(bool start)> handler)
{
    Impl& i = impl();
    std::lock_guard lock(i.signal_mutex);
    i.prepare_handler = std::move(handler);
    if (!i.signal_thread.joinable())
        i.start_signals();
}

}  // namespace luo
