// SPDX-License-Identifier: Apache-2.0
#include "dbus_service.h"

#include <spdlog/spdlog.h>

#include "event_loop.h"

namespace luod {

namespace {

// Announcing a change must not fail the change itself, which has happened already.
template <typename F>
void announce(const char* what, F&& emit)
{
    try {
        emit();
    } catch (const std::exception& e) {
        spdlog::warn("could not announce {}: {}", what, e.what());
    }
}

}  // namespace

DbusService::DbusService(sdbus::IConnection& bus, EventLoop& loop, SessionRegistry& sessions,
                         const DeviceAccess& device, UpdateController& update)
    : bus_(bus),
      loop_(loop),
      sessions_(sessions),
      update_(update),
      callers_(bus),
      objects_(bus, callers_, sessions),
      polkit_(loop),
      manager_(std::make_unique<ManagerObject>(bus, callers_, polkit_, sessions, objects_, device, update)),
      log_control_(bus, callers_, spdlog::default_logger()->name())
{
    // sdbus-c++ 1.2 opens a process-wide pseudo connection (two eventfds) the first time a
    // Variant is inspected; open it now, so luod's fds do not change while it serves.
    sdbus::Variant warm_up{std::uint32_t{0}};
    (void)warm_up.peekValueType();
    // No object per session here: each is registered when its path is first handed out.
    sessions_.add_observer(this);
    polkit_.start();
}

DbusService::~DbusService()
{
    polkit_.stop();  // no answer of polkit's may reach the objects while they go
    update_.forget_waiting_calls();  // pending replies must not outlive the bus
    sessions_.remove_observer(this);
}

void DbusService::prepare_for_update(bool start)
{
    announce("PrepareForUpdate", [&] { manager_->emitPrepareForUpdate(start); });
}

void DbusService::update_failed(const std::string& reason)
{
    announce("UpdateFailed", [&] { manager_->emitUpdateFailed(reason); });
}

void DbusService::manager_properties_changed(const std::vector<std::string>& properties)
{
    announce("a state change", [&] { manager_->properties_changed(properties); });
}

void DbusService::flush_graveyard() { graveyard_.clear(); }

void DbusService::bury(std::unique_ptr<SessionObject> object)
{
    graveyard_.push_back(std::move(object));
    loop_.post([this] { flush_graveyard(); });
}

void DbusService::signal_session(const char* member, const std::string& name, const std::string& path, uid_t owner)
{
    announce(member, [&] { manager_->signal_session(member, name, path, callers_.listeners(owner)); });
}

void DbusService::session_added(const SessionRecord& session)
{
    // The previous object of this name (closed a moment ago) must be gone first; this runs in
    // another object's handler, so it can go now.
    flush_graveyard();
    std::string path;
    announce("a new session's object", [&] { path = objects_.publish(session.name); });
    if (!path.empty())
        signal_session("SessionNew", session.name, path, session.owner.uid);
    announce("a new session", [&] { manager_->properties_changed({"Sessions", "IncomingSessions"}); });
}

void DbusService::session_removed(const SessionRecord& gone)
{
    std::unique_ptr<SessionObject> object = objects_.withdraw(gone.name);
    // A session nobody was told the path of still has its removal signalled, with a path
    // that never had an object.
    std::string path = object ? object->path() : objects_.unused_path();
    signal_session("SessionRemoved", gone.name, path, gone.owner.uid);
    if (object)
        bury(std::move(object));
    announce("a removed session", [&] { manager_->properties_changed({"Sessions", "IncomingSessions"}); });
}

void DbusService::session_changed(const SessionRecord& session, const std::vector<std::string>& properties)
{
    // An object nobody was told of has nobody to tell.
    if (SessionObject* object = objects_.find(session.name))
        announce("a session change", [&] { object->properties_changed(session, properties); });
}

}  // namespace luod
