// SPDX-License-Identifier: Apache-2.0
// The Manager object (/org/luod/LiveUpdate1, org.luod.LiveUpdate1.Manager): each method
// identifies its caller, decodes its options and hands over to the session registry or
// the update controller; each property reads their state.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dbus_callers.h"
#include "dbus_session_object.h"
#include "device_access.h"
#include "luo-dbus/manager-adaptor.h"
#include "polkit_authority.h"
#include "session_registry.h"
#include "update_controller.h"

namespace luod {

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::luod::LiveUpdate1::Manager_adaptor, sdbus::Properties_adaptor> {
public:
    ManagerObject(sdbus::IConnection& bus, Callers& callers, PolkitAuthority& polkit, SessionRegistry& sessions,
                  SessionObjects& objects, const DeviceAccess& device, UpdateController& update);
    ~ManagerObject();

    void properties_changed(const std::vector<std::string>& properties);
    // SessionNew or SessionRemoved, to these unique bus names only.
    void signal_session(const char* member, const std::string& name, const std::string& path,
                        const std::vector<std::string>& destinations);

private:
    // The members that name sessions reply asynchronously: right after a live update they wait
    // until the update's sessions are known by name (with_sessions()).
    using SessionList = std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>>;
    void CreateSession(sdbus::Result<sdbus::ObjectPath>&& result, std::string name,
                       std::map<std::string, sdbus::Variant> options) override;
    void GetSession(sdbus::Result<sdbus::ObjectPath>&& result, std::string name) override;
    void ListSessions(sdbus::Result<SessionList>&& result) override;
    void ListSessionsPage(sdbus::Result<SessionList, std::string>&& result, std::string after, uint32_t limit) override;
    void RetrieveSession(sdbus::Result<sdbus::ObjectPath>&& result, std::string name) override;
    // The root-only members reply asynchronously: polkit may be asked first (privileged()).
    void Inhibit(sdbus::Result<sdbus::UnixFd>&& result, std::string what, std::string who, std::string why,
                 std::string mode) override;
    void LoadKernel(sdbus::Result<>&& result, std::string kernel, std::string initrd, std::string cmdline,
                    std::map<std::string, sdbus::Variant> options) override;
    void UnloadKernel(sdbus::Result<>&& result) override;
    using InhibitorList = std::vector<sdbus::Struct<std::string, std::string, std::string, uint32_t, uint32_t>>;
    void ListInhibitors(sdbus::Result<InhibitorList>&& result) override;
    void Check(sdbus::Result<std::vector<sdbus::Struct<std::string, std::string, std::string>>>&& result) override;
    void Update(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> options) override;
    void Cancel(sdbus::Result<>&& result) override;

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
    // Runs `body(caller)` and replies with what it returns (or the D-Bus error of what it
    // throws). Root's call, or one with no `action`, runs now; anyone else's once polkit has
    // answered whether the caller may do `action`, with Caller::delegated set to its answer:
    // the body's own root check refuses the call then, with its usual error.
    // `needs_sessions`: the body runs once the update's sessions are known, as with_sessions().
    // A body taking `(caller, pending)` replies to `pending` itself, later (what it throws
    // at once is the reply).
    template <typename... Out>
    using Pending = std::shared_ptr<sdbus::Result<Out...>>;
    template <typename... Out, typename Body>
    void privileged(sdbus::Result<Out...>&& result, const char* action, Body&& body, bool needs_sessions = false);
    // Runs `body(caller)` once the sessions of a live update this boot restored are known by
    // name (at once, but for the first moments after one: UpdateController::when_sessions_known),
    // and replies with what it returns, or the D-Bus error of what it throws.
    template <typename... Out, typename Body>
    void with_sessions(sdbus::Result<Out...>&& result, Body&& body);
    // The same once their owners are known too (UpdateController::when_owners_known): for
    // listings of everyone's sessions.
    template <typename... Out, typename Body>
    void with_owners(sdbus::Result<Out...>&& result, Body&& body);

    Callers& callers_;
    PolkitAuthority& polkit_;
    SessionRegistry& sessions_;
    SessionObjects& objects_;
    const DeviceAccess& device_;
    UpdateController& update_;
};

}  // namespace luod
