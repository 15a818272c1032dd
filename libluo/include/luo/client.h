// SPDX-License-Identifier: Apache-2.0
// luo::Client: the C++ API for services that keep state across a live update through luod
// (D-Bus API org.luod.LiveUpdate1, dbus/*.xml). The D-Bus library stays private to libluo:
// nothing here exposes it, and every D-Bus error reaches the caller as luo::ClientError.
//
// Threads. A Client and the ClientSessions it opens share one bus connection for calls;
// calls are serialized on it internally, so the Client and its sessions may be used from
// several threads, including from the handler given to on_prepare_for_update(). Each
// ClientSession keeps a little state of its own (see retrieve()), so use one ClientSession
// object from one thread at a time. Moving or destroying an object while another thread
// uses it is, as always, not allowed; nor is destroying the Client from its own handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "luo/unique_fd.h"

namespace luo {

// An error from luod or the bus: name() is the D-Bus error name (luo/dbus_api.h lists
// luod's, e.g. org.luod.LiveUpdate1.SessionExists), message() luod's explanation. The
// client reports its own refusals under the same names (e.g. InvalidArgs for a batch of
// more than 16 fds) and a failed LUO ioctl of retrieve() as KernelError.
class ClientError : public std::runtime_error {
public:
    ClientError(std::string name, std::string message);
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
    std::string name_;
    std::string message_;
};

// One entry of Session.Files.
struct FileInfo {
    std::string label;
    std::uint64_t token = 0;
    std::string type;  // "memfd", "vfio" or "file"
};

// One entry of Manager.ListSessions.
struct SessionInfo {
    std::string name;
    std::string kind;  // "outgoing" or "incoming"
    std::uint32_t owner_uid = 0;
    std::string owner_unit;
    std::string path;  // the D-Bus object path
};

// A handle on one of luod's sessions. Dropping the handle leaves the session to luod (it
// lives on until close(), finish() or the update); finish() and close() end it, after which
// the handle refuses every call: the object path is derived from the name, so a later
// session of the same name would otherwise be addressed by a stale handle.
class ClientSession {
public:
    ClientSession();  // an empty handle; every call on it fails with InvalidState
    ClientSession(ClientSession&&) noexcept;
    ClientSession& operator=(ClientSession&&) noexcept;
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;
    ~ClientSession();

    // True from opening until finish(), close() or a move away.
    [[nodiscard]] bool valid() const noexcept;
    [[nodiscard]] const std::string& name() const noexcept;
    [[nodiscard]] const std::string& path() const noexcept;  // its D-Bus object path

    // Properties, read from luod on each call.
    std::string kind();   // "outgoing" or "incoming"
    std::string state();  // "open", "incoming", "retrieved" or "finished"
    std::vector<FileInfo> files();

    // Outgoing sessions. The kernel keeps its own reference: the caller keeps its fd and may
    // close it. A preserved memfd can no longer change size: give it its final size first.
    std::uint64_t preserve(int fd, const std::string& label);  // PreserveFd; returns the token
    // PreserveFds: at most 16 files (the system bus drops a connection sending more fds in
    // one message), refused with InvalidArgs before anything is sent. On a kernel refusal
    // midway, the earlier files stay preserved (luod's error says which one failed).
    std::vector<std::uint64_t> preserve(const std::vector<std::pair<int, std::string>>& files);

    // Incoming sessions: the file preserved under `label`. retrieve() issues
    // LIVEUPDATE_SESSION_RETRIEVE_FD itself, on a duplicate of the session fd (AcquireFd),
    // so the file's memory is charged to the caller: use it for anything large. The handle
    // keeps that duplicate until finish(), close() or its destruction, so that retrieving
    // several files costs one AcquireFd. retrieve_via_luod() asks luod (Session.RetrieveFd).
    // The returned fds have FD_CLOEXEC set.
    UniqueFd retrieve(const std::string& label);
    UniqueFd retrieve_via_luod(const std::string& label);

    // A duplicate of the kernel session fd, for callers that issue LUO ioctls themselves
    // (luo::Session). Files preserved that way bypass luod's labels.
    UniqueFd acquire_fd();

    // Incoming sessions: LIVEUPDATE_SESSION_FINISH, all or nothing; files never retrieved
    // are discarded. Ends the session, and with it this handle.
    void finish();
    // Releases luod's reference: an outgoing session is unpreserved, an incoming one
    // implicitly finished. Ends this handle.
    void close();

private:
    friend class Client;
    struct Impl;
    explicit ClientSession(std::unique_ptr<Impl> impl);
    Impl& impl();
    std::unique_ptr<Impl> impl_;
};

// PrepareForUpdate for a service with a poll loop of its own: give post() to
// Client::on_prepare_for_update(), poll fd() for reading, and take() the signals in the
// order they came (true: an update starts; false: it was cancelled or failed).
class UpdateSignalPipe {
public:
    UpdateSignalPipe();
    [[nodiscard]] int fd() const noexcept { return read_end_.get(); }
    void post(bool start) const noexcept;
    [[nodiscard]] std::vector<bool> take() const;

private:
    UniqueFd read_end_;
    UniqueFd write_end_;
};

class Client {
public:
    // The system bus (DBUS_SYSTEM_BUS_ADDRESS when set).
    static Client connect();
    // The bus at `address`, e.g. "unix:path=/tmp/test-bus" (tests, private buses).
    static Client connect(const std::string& address);

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();  // stops the signal thread, if any; sessions stay with luod

    // Manager.CreateSession (a new outgoing session owned by the caller), GetSession (an
    // existing session, outgoing or incoming) and RetrieveSession (claims the incoming
    // session after an update).
    ClientSession create_session(const std::string& name);
    ClientSession get_session(const std::string& name);
    ClientSession retrieve_session(const std::string& name);

    // The usual start of a service: the incoming session if the last update carried one
    // (claimed with RetrieveSession, or claimed already by an earlier run of the service),
    // else the caller's existing outgoing session (the service restarted; luod kept it),
    // else a new one. `how`, when given, says which.
    enum class Opened { created, reopened, incoming };
    ClientSession open_session(const std::string& name, Opened* how = nullptr);

    std::vector<SessionInfo> list_sessions();  // the caller's sessions (all of them for root)
    std::string state();  // Manager.State: "idle", "loaded", "preparing", "rebooting", "updated"

    // Manager.Inhibit("update", who, why, mode). mode "delay": an update waits (up to its
    // timeout) after PrepareForUpdate(true) until the fd is closed; "block": updates are
    // refused while it is open (root only). The lock lasts while any copy of the fd is open.
    UniqueFd inhibit(const std::string& who, const std::string& why, const std::string& mode = "delay");

    // Calls handler(start) for each PrepareForUpdate signal: true when an update starts
    // (quiesce, then close delay locks), false when it was cancelled or failed. Handlers run
    // on a background thread with a second bus connection, started by the first call; a later
    // call replaces the handler, an empty one ignores the signal. Signals are subscribed to
    // before this returns: call it before inhibit(), so that no start is missed. Exceptions
    // from the handler are reported on stderr and otherwise ignored.
    void on_prepare_for_update(std::function<void(bool start)> handler);

private:
    struct Impl;
    explicit Client(std::unique_ptr<Impl> impl);
    Impl& impl();
    std::unique_ptr<Impl> impl_;
};

}  // namespace luo
