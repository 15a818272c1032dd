// SPDX-License-Identifier: Apache-2.0
// The Manager object (/org/luod/LiveUpdate1, org.luod.LiveUpdate1.Manager): each method
// identifies its caller, decodes its options and hands over to the session registry or
// the update controller; each property reads their state.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "dbus_callers.h"
#include "dbus_session_object.h"
#include "device_access.h"
#include "luo-dbus/manager-adaptor.h"
#include "session_registry.h"
#include "update_controller.h"

namespace luod {

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::luod::LiveUpdate1::Manager_adaptor, sdbus::Properties_adaptor> {
public:
    ManagerObject(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions, const SessionPaths& paths,
                  const DeviceAccess& device, UpdateController& update);
    ~ManagerObject();

    void properties_changed(const std::vector<std::string>& properties);
    // SessionNew or SessionRemoved, to these unique bus names only.
    void signal_session(const char* member, const std::string& name, const std::string& path,
                        const std::vector<std::string>& destinations);

private:
    sdbus::ObjectPath CreateSession(const std::string& name, const std::map<std::string, sdbus::Variant>& options) override;
    sdbus::ObjectPath GetSession(const std::string& name) override;
    std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> ListSessions() override;
    sdbus::ObjectPath RetrieveSession(const std::string& name) override;
    sdbus::UnixFd Inhibit(const std::string& what, const std::string& who, const std::string& why,
                          const std::string& mode) override;
    void LoadKernel(const std::string& kernel, const std::string& initrd, const std::string& cmdline,
                    const std::map<std::string, sdbus::Variant>& options) override;
    void UnloadKernel() override;
    std::vector<sdbus::Struct<std::string, std::string, std::string, uint32_t, uint32_t>> ListInhibitors() override;
    std::vector<sdbus::Struct<std::string, std::string, std::string>> Check() override;
    void Update(const std::map<std::string, sdbus::Variant>& options) override;
    void Cancel() override;

    std::string State() override;
    std::string KernelState() override;
    std::string Backend() override;
    std::vector<std::string> KernelFeatures() override;
    bool KexecLoaded() override;
    std::string LoadedCmdline() override;
    uint32_t Sessions() override;
    uint32_t IncomingSessions() override;
    uint64_t LiveUpdateCount() override;
    std::string LastUpdate() override;
    std::string Version() override;

    uint32_t visible_count(luo::SessionKind kind);
    Caller caller() { return callers_.of_method(getObject()); }

    Callers& callers_;
    SessionRegistry& sessions_;
    const SessionPaths& paths_;
    const DeviceAccess& device_;
    UpdateController& update_;
};

}  // namespace luod
