// SPDX-License-Identifier: Apache-2.0
// luod on the bus: exports the Manager object and a Session object for each session whose path
// was handed out (SessionObjects, dbus_session_object.h), and turns
// the registry's and the update controller's changes into objects, signals and
// PropertiesChanged, which about sessions reach only their owners and root. The objects themselves are in dbus_manager_object.h and
// dbus_session_object.h; callers' identities and error mapping in dbus_callers.h.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dbus_callers.h"
#include "dbus_log_control.h"
#include "dbus_manager_object.h"
#include "dbus_session_object.h"
#include "device_access.h"
#include "polkit_authority.h"
#include "session_registry.h"
#include "update_controller.h"

namespace luod {

class EventLoop;

// Exports the objects and follows SessionRegistry's and UpdateController's changes.
class DbusService final : public SessionObserver, public UpdateEvents {
public:
    DbusService(sdbus::IConnection& bus, EventLoop& loop, SessionRegistry& sessions, const DeviceAccess& device,
                UpdateController& update);
    ~DbusService() override;

    ManagerObject& manager() { return *manager_; }

    void session_added(const SessionRecord& session) override;
    void session_removed(const SessionRecord& gone) override;
    void session_changed(const SessionRecord& session, const std::vector<std::string>& properties) override;

    void prepare_for_update(bool start) override;
    void update_failed(const std::string& reason) override;
    void manager_properties_changed(const std::vector<std::string>& properties) override;

private:
    void bury(std::unique_ptr<SessionObject> object);
    void flush_graveyard();

    // SessionNew/SessionRemoved to root's and the owner's connections only.
    void signal_session(const char* member, const std::string& name, const std::string& path, uid_t owner);

    sdbus::IConnection& bus_;
    EventLoop& loop_;
    SessionRegistry& sessions_;
    UpdateController& update_;
    Callers callers_;
    SessionObjects objects_;
    // Before the objects whose replies its answers complete; stopped first (~DbusService).
    PolkitAuthority polkit_;
    std::unique_ptr<ManagerObject> manager_;
    LogControlObject log_control_;
    // Objects removed from inside one of their own handlers live until the handler is done.
    std::vector<std::unique_ptr<SessionObject>> graveyard_;
};

}  // namespace luod
