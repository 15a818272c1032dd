// SPDX-License-Identifier: Apache-2.0
// luod on the bus: the Manager object, one Session object per session, and the glue that
// turns SessionManager changes into objects, signals and PropertiesChanged. Every handler
// runs inside guard(): whatever it throws reaches the caller as a D-Bus error, because
// sdbus-c++ 1.2 aborts the process on any exception other than sdbus::Error.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "luo-dbus/manager-adaptor.h"
#include "luo-dbus/session-adaptor.h"
#include "session_manager.h"
#include "update_controller.h"

namespace luod {

class EventLoop;

// Maps anything a handler throws to sdbus::Error.
[[noreturn]] void rethrow_as_dbus_error();

template <typename F>
auto guard(F&& body) -> decltype(body())
{
    try {
        return body();
    } catch (...) {
        rethrow_as_dbus_error();
    }
}

// Who sends what luod handles. Identities are cached by unique bus name: dbus-daemon never
// reuses one, and a connection's uid (from SO_PEERCRED at connect) never changes, so the
// daemon is asked once per client instead of once per call.
//
// sdbus-c++ 1.2 does not tell property getters who is asking. sd-bus runs local match
// callbacks before object vtables, so a match on Properties calls records the caller just
// before the getter runs; a getter that finds none denies access.
class Callers {
public:
    explicit Callers(sdbus::IConnection& bus);
    Caller of_method(const sdbus::IObject& object);
    Caller of_property() const;

private:
    Caller resolve(const sdbus::Message& message);

    std::map<std::string, Caller> by_sender_;
    std::optional<Caller> property_caller_;
};

std::string session_path(const std::string& name);

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::luod::LiveUpdate1::Manager_adaptor, sdbus::Properties_adaptor> {
public:
    ManagerObject(sdbus::IConnection& bus, Callers& callers, SessionManager& sessions, UpdateController& update);
    ~ManagerObject();

    void properties_changed(const std::vector<std::string>& properties);

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
    std::vector<sdbus::Struct<std::string, std::string, std::string>> Check() override;
    void Update(const std::map<std::string, sdbus::Variant>& options) override;
    void Cancel() override;

    std::string State() override;
    std::string KernelState() override;
    std::string Backend() override;
    std::vector<std::string> KernelFeatures() override;
    bool KexecLoaded() override;
    uint32_t Sessions() override;
    uint32_t IncomingSessions() override;
    uint64_t LiveUpdateCount() override;
    std::string LastUpdate() override;
    std::string Version() override;

    Caller caller() { return callers_.of_method(getObject()); }

    Callers& callers_;
    SessionManager& sessions_;
    UpdateController& update_;
};

class SessionObject final
    : public sdbus::AdaptorInterfaces<org::luod::LiveUpdate1::Session_adaptor, sdbus::Properties_adaptor> {
public:
    SessionObject(sdbus::IConnection& bus, Callers& callers, SessionManager& sessions, std::string name);
    ~SessionObject();

    void properties_changed(const std::vector<std::string>& properties);

private:
    uint64_t PreserveFd(const sdbus::UnixFd& fd, const std::string& label) override;
    std::vector<uint64_t> PreserveFds(const std::vector<sdbus::Struct<sdbus::UnixFd, std::string>>& files) override;
    sdbus::UnixFd RetrieveFd(const std::string& label) override;
    sdbus::UnixFd AcquireFd() override;
    void Finish() override;
    void Close() override;

    std::string Name() override;
    std::string Kind() override;
    std::string State() override;
    uint32_t OwnerUID() override;
    std::string OwnerUnit() override;
    std::vector<sdbus::Struct<std::string, uint64_t, std::string>> Files() override;
    uint32_t FileCount() override;

    const SessionRecord& record();
    // The session, if the caller of this property read may see it.
    const SessionRecord& record_for_caller();
    Caller caller() { return callers_.of_method(getObject()); }

    Callers& callers_;
    SessionManager& sessions_;
    std::string name_;
};

// Exports the objects and follows SessionManager's and UpdateController's changes.
class DbusService final : public SessionObserver, public UpdateEvents {
public:
    DbusService(sdbus::IConnection& bus, EventLoop& loop, SessionManager& sessions, UpdateController& update);
    ~DbusService() override;

    ManagerObject& manager() { return *manager_; }

    void session_added(const SessionRecord& session) override;
    void session_removed(const std::string& name) override;
    void session_changed(const SessionRecord& session, const std::vector<std::string>& properties) override;

    void prepare_for_update(bool start) override;
    void update_failed(const std::string& reason) override;
    void manager_properties_changed(const std::vector<std::string>& properties) override;

private:
    void bury(std::unique_ptr<SessionObject> object);
    void flush_graveyard();

    sdbus::IConnection& bus_;
    EventLoop& loop_;
    SessionManager& sessions_;
    Callers callers_;
    std::unique_ptr<ManagerObject> manager_;
    std::map<std::string, std::unique_ptr<SessionObject>> objects_;
    // Objects removed from inside one of their own handlers live until the handler is done.
    std::vector<std::unique_ptr<SessionObject>> graveyard_;
};

}  // namespace luod
