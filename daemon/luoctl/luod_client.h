// SPDX-License-Identifier: Apache-2.0
// luoctl's only door to D-Bus: typed calls on luod's Manager and Session objects, returning the
// plain records of records.h. Every failure leaves as a CommandError that names what failed and
// carries the D-Bus error and the exit code, so verbs never see sdbus types or exceptions.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

private:
    // The system bus (DBUS_SYSTEM_BUS_ADDRESS honoured) and the Manager proxy on it.
    ManagerProxy& manager();

    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<ManagerProxy> manager_;  // after connection_: refers to it, so goes first
};

}  // namespace luo::ctl
