// SPDX-License-Identifier: Apache-2.0
// luoctl's only door to D-Bus: typed calls on luod's Manager and Session objects, returning the
// plain records of records.h. Every failure leaves as a CommandError that names what failed and
// carries the D-Bus error and the exit code, so verbs never see sdbus types or exceptions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "luo/unique_fd.h"
#include "records.h"

namespace sdbus {
class IConnection;
}

namespace luo::ctl {

class ManagerProxy;  // luod_client.cpp

class LuodClient {
public:
    // Connects lazily, on the first call, so that verbs needing no bus cost nothing.
    LuodClient();
    ~LuodClient();
    LuodClient(const LuodClient&) = delete;
    LuodClient& operator=(const LuodClient&) = delete;

    ManagerStatus status();
    std::vector<SessionSummary> list_sessions();
    // GetSession(name), then the session object's properties.
    SessionDetails session(const std::string& name);

    // LoadKernel, then the command line luod loaded (LoadedCmdline).
    std::string load_kernel(const KernelLoadRequest& request);
    void unload_kernel();
    std::vector<CheckResult> check();
    // ListInhibitors() (root only).
    std::vector<InhibitorEntry> list_inhibitors();
    // GetSession(name), then Close() on it.
    void close_session(const std::string& name);
    void update(const UpdateRequest& request);
    void cancel();
    // Inhibit("update", ...): the lock's fd, marked close-on-exec.
    UniqueFd inhibit(const InhibitRequest& request);

    // The Manager's properties, then FileCount of every session ListSessions returns (a session
    // closed meanwhile counts no files).
    MetricsSnapshot metrics_snapshot();

    // LiveUpdateCount and LastUpdate, read together.
    UpdateProgress update_progress();
    // The same on a connection of its own, made for this one reading and closed after it, with
    // a short call timeout: for following an update, through which the bus and luod restart
    // (a connection to the old bus is dead for good).
    static UpdateProgress update_progress_on_new_connection();

    // Closes the connection (the next call opens a new one), e.g. so that a long-lived luoctl
    // does not hold a bus connection whose signals nobody reads.
    void disconnect();

private:
    // The system bus (DBUS_SYSTEM_BUS_ADDRESS honoured) and the Manager proxy on it.
    ManagerProxy& manager();

    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<ManagerProxy> manager_;  // after connection_: refers to it, so goes first
};

}  // namespace luo::ctl
