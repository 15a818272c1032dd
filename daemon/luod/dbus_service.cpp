// SPDX-License-Identifier: Apache-2.0
#include "dbus_service.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "event_loop.h"
#include "log.h"
#include "luo/dbus_api.h"
#include "luo/error.h"
#include "method_options.h"
#include "update_controller.h"

#ifndef LUOD_VERSION
#define LUOD_VERSION "0"
#endif

namespace luod {

namespace {

using ManagerIface = org::luod::LiveUpdate1::Manager_adaptor;
using SessionIface = org::luod::LiveUpdate1::Session_adaptor;

// The a{sv} as method_options.h takes it: the values of the types options use, the
// signature of any other.
Options decode_options(const std::map<std::string, sdbus::Variant>& in)
{
    Options out;
    for (const auto& [key, variant] : in) {
        OptionValue v{variant.peekValueType(), {}};
        if (v.signature == "b")
            v.value = variant.get<bool>();
        else if (v.signature == "u")
            v.value = variant.get<std::uint32_t>();
        else if (v.signature == "t")
            v.value = variant.get<std::uint64_t>();
        else if (v.signature == "s")
            v.value = variant.get<std::string>();
        out.emplace(key, std::move(v));
    }
    return out;
}

}  // namespace

void rethrow_as_dbus_error()
{
    try {
        throw;
    } catch (const sdbus::Error&) {
        throw;
    } catch (const ApiError& e) {
        throw sdbus::Error(dbus_error_name(e.kind()), e.what());
    } catch (const luo::Error& e) {
        throw sdbus::Error(luo::dbus::error::kKernelError, e.what());
    } catch (const std::bad_alloc&) {
        throw sdbus::Error(luo::dbus::error::kLimitsExceeded, "luod is out of memory");
    } catch (const std::exception& e) {
        spdlog::error("request failed unexpectedly: {}", e.what());
        throw sdbus::Error(luo::dbus::error::kFailed, e.what());
    } catch (...) {
        throw sdbus::Error(luo::dbus::error::kFailed, "unexpected failure");
    }
}

Callers::Callers(sdbus::IConnection& bus)
{
    std::string rule = std::string("type='method_call',interface='org.freedesktop.DBus.Properties',path_namespace='") +
                       luo::dbus::kManagerPath + "'";
    bus.addMatch(rule, [this](sdbus::Message& message) {
        try {
            property_caller_ = resolve(message);
        } catch (const std::exception& e) {
            property_caller_.reset();
            spdlog::warn("cannot identify a property reader: {}", e.what());
        }
    }, sdbus::floating_slot);
}

Caller Callers::resolve(const sdbus::Message& message)
{
    std::string sender = message.getSender();
    if (auto it = by_sender_.find(sender); it != by_sender_.end())
        return it->second;
    Caller c;
    c.uid = message.getCredsUid();
    c.pid = message.getCredsPid();
    char* unit = nullptr;
    if (::sd_pid_get_unit(c.pid, &unit) >= 0 && unit) {
        c.unit = unit;
        std::free(unit);
    }
    if (by_sender_.size() >= 4096)
        by_sender_.clear();  // bounded; entries are cheap to learn again
    by_sender_.emplace(sender, c);
    return c;
}

Caller Callers::of_method(const sdbus::IObject& object)
{
    const sdbus::Message* message = object.getCurrentlyProcessedMessage();
    if (!message)
        fail(ErrorKind::access_denied, "cannot identify the caller");
    return resolve(*message);
}

Caller Callers::of_property() const
{
    if (!property_caller_)
        fail(ErrorKind::access_denied, "cannot identify the caller");
    return *property_caller_;
}

std::string session_path(const std::string& name)
{
    char* path = nullptr;
    if (::sd_bus_path_encode(luo::dbus::kSessionPathPrefix, name.c_str(), &path) < 0 || !path)
        throw std::bad_alloc();
    std::string out(path);
    std::free(path);
    return out;
}

// ---- Manager ----

ManagerObject::ManagerObject(sdbus::IConnection& bus, Callers& callers, SessionManager& sessions,
                             UpdateController& update)
    : AdaptorInterfaces(bus, luo::dbus::kManagerPath), callers_(callers), sessions_(sessions), update_(update)
{
    registerAdaptor();
}

ManagerObject::~ManagerObject() { unregisterAdaptor(); }

void ManagerObject::properties_changed(const std::vector<std::string>& properties)
{
    getObject().emitPropertiesChangedSignal(ManagerIface::INTERFACE_NAME, properties);
}

sdbus::ObjectPath ManagerObject::CreateSession(const std::string& name, const std::map<std::string, sdbus::Variant>& options)
{
    return guard([&] {
        Caller who = caller();
        CreateSessionOptions o = parse_create_session_options(decode_options(options));
        std::optional<Owner> on_behalf;
        if (o.owner_uid || o.owner_unit)
            on_behalf = Owner{o.owner_uid.value_or(who.uid), o.owner_unit.value_or("")};
        const SessionRecord& r = sessions_.create(who, name, on_behalf);
        return sdbus::ObjectPath(session_path(r.name));
    });
}

sdbus::ObjectPath ManagerObject::GetSession(const std::string& name)
{
    return guard([&] { return sdbus::ObjectPath(session_path(sessions_.get(caller(), name).name)); });
}

std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> ManagerObject::ListSessions()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> out;
        for (const SessionRecord* r : sessions_.list(caller()))
            out.emplace_back(r->name, luo::to_string(r->kind), r->owner.uid, r->owner.unit,
                             sdbus::ObjectPath(session_path(r->name)));
        return out;
    });
}

sdbus::ObjectPath ManagerObject::RetrieveSession(const std::string& name)
{
    return guard([&] {
        return sdbus::ObjectPath(session_path(update_.retrieve_session(caller(), name).name));
    });
}

sdbus::UnixFd ManagerObject::Inhibit(const std::string& what, const std::string& who, const std::string& why,
                                     const std::string& mode)
{
    return guard([&] {
        luo::UniqueFd fd = update_.inhibit(caller(), what, who, why, mode);
        return sdbus::UnixFd(fd.release(), sdbus::adopt_fd);
    });
}

void ManagerObject::LoadKernel(const std::string& kernel, const std::string& initrd, const std::string& cmdline,
                               const std::map<std::string, sdbus::Variant>& options)
{
    guard([&] {
        LoadKernelOptions o = parse_load_kernel_options(decode_options(options));
        update_.load_kernel(caller(), kernel, initrd, cmdline, o.reuse_cmdline, o.no_liveupdate_flags);
    });
}

void ManagerObject::UnloadKernel()
{
    guard([&] { update_.unload_kernel(caller()); });
}

std::vector<sdbus::Struct<std::string, std::string, std::string>> ManagerObject::Check()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, std::string, std::string>> out;
        for (const CheckResult& r : update_.check())
            out.emplace_back(r.id, r.verdict, r.detail);
        return out;
    });
}

void ManagerObject::Update(const std::map<std::string, sdbus::Variant>& options)
{
    guard([&] {
        update_.update(caller(), parse_update_options(decode_options(options)));
    });
}

void ManagerObject::Cancel()
{
    guard([&] { update_.cancel(caller()); });
}

std::string ManagerObject::State()
{
    return guard([&] { return update_.state(); });
}

std::string ManagerObject::KernelState()
{
    return guard([&] { return update_.kernel_state(); });
}

std::string ManagerObject::Backend()
{
    return guard([&] { return std::string(luo::to_string(sessions_.transport())); });
}

std::vector<std::string> ManagerObject::KernelFeatures()
{
    return guard([&] { return sessions_.feature_names(); });
}

bool ManagerObject::KexecLoaded()
{
    return guard([&] { return update_.kexec_loaded(); });
}

uint32_t ManagerObject::Sessions()
{
    return guard([&] { return static_cast<uint32_t>(sessions_.outgoing_count()); });
}

uint32_t ManagerObject::IncomingSessions()
{
    return guard([&] { return static_cast<uint32_t>(sessions_.incoming_count()); });
}

uint64_t ManagerObject::LiveUpdateCount()
{
    return guard([&] { return update_.live_update_count(); });
}

std::string ManagerObject::LastUpdate()
{
    return guard([&] { return update_.last_update_json(); });
}

std::string ManagerObject::Version() { return LUOD_VERSION; }

// ---- Session ----

SessionObject::SessionObject(sdbus::IConnection& bus, Callers& callers, SessionManager& sessions, std::string name)
    : AdaptorInterfaces(bus, session_path(name)), callers_(callers), sessions_(sessions), name_(std::move(name))
{
    registerAdaptor();
}

SessionObject::~SessionObject() { unregisterAdaptor(); }

void SessionObject::properties_changed(const std::vector<std::string>& properties)
{
    getObject().emitPropertiesChangedSignal(SessionIface::INTERFACE_NAME, properties);
}

const SessionRecord& SessionObject::record()
{
    const SessionRecord* r = sessions_.find(name_);
    if (!r)
        fail(ErrorKind::no_such_session, "session '" + name_ + "' is gone");
    return *r;
}

const SessionRecord& SessionObject::record_for_caller() { return sessions_.get(callers_.of_property(), name_); }

uint64_t SessionObject::PreserveFd(const sdbus::UnixFd& fd, const std::string& label)
{
    return guard([&] { return sessions_.preserve(caller(), name_, {{fd.get(), label}}).front(); });
}

std::vector<uint64_t> SessionObject::PreserveFds(const std::vector<sdbus::Struct<sdbus::UnixFd, std::string>>& files)
{
    return guard([&] {
        std::vector<FileToPreserve> batch;
        for (const auto& f : files)
            batch.push_back({std::get<0>(f).get(), std::get<1>(f)});
        return sessions_.preserve(caller(), name_, batch);
    });
}

sdbus::UnixFd SessionObject::RetrieveFd(const std::string& label)
{
    return guard([&] {
        luo::UniqueFd fd = sessions_.retrieve_fd(caller(), name_, label);
        return sdbus::UnixFd(fd.release(), sdbus::adopt_fd);
    });
}

sdbus::UnixFd SessionObject::AcquireFd()
{
    return guard([&] {
        luo::UniqueFd fd = sessions_.acquire_fd(caller(), name_);
        return sdbus::UnixFd(fd.release(), sdbus::adopt_fd);
    });
}

void SessionObject::Finish()
{
    guard([&] { sessions_.finish(caller(), name_); });
}

void SessionObject::Close()
{
    guard([&] { sessions_.close(caller(), name_); });
}

// Properties other than Files say nothing a session's path does not: readable by anyone
// the bus policy lets in, and by sd-bus itself when it builds PropertiesChanged.
std::string SessionObject::Name()
{
    return guard([&] { return record().name; });
}

std::string SessionObject::Kind()
{
    return guard([&] { return std::string(luo::to_string(record().kind)); });
}

std::string SessionObject::State()
{
    return guard([&] { return std::string(to_string(record().state)); });
}

uint32_t SessionObject::OwnerUID()
{
    return guard([&] { return static_cast<uint32_t>(record().owner.uid); });
}

std::string SessionObject::OwnerUnit()
{
    return guard([&] { return record().owner.unit; });
}

std::vector<sdbus::Struct<std::string, uint64_t, std::string>> SessionObject::Files()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, uint64_t, std::string>> out;
        for (const FileRecord& f : record_for_caller().files)
            out.emplace_back(f.label, f.token, f.type);
        return out;
    });
}

uint32_t SessionObject::FileCount()
{
    return guard([&] { return static_cast<uint32_t>(record().files.size()); });
}

// ---- Service ----

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


DbusService::DbusService(sdbus::IConnection& bus, EventLoop& loop, SessionManager& sessions, UpdateController& update)
    : bus_(bus),
      loop_(loop),
      sessions_(sessions),
      callers_(bus),
      manager_(std::make_unique<ManagerObject>(bus, callers_, sessions, update))
{
    // sdbus-c++ 1.2 opens a process-wide pseudo connection (two eventfds) the first time a
    // Variant is inspected; open it now, so luod's fds do not change while it serves.
    sdbus::Variant warm_up{std::uint32_t{0}};
    (void)warm_up.peekValueType();
    for (const auto& [name, record] : sessions.sessions())
        objects_.emplace(name, std::make_unique<SessionObject>(bus_, callers_, sessions_, name));
    sessions_.add_observer(this);
}

DbusService::~DbusService() { sessions_.remove_observer(this); }

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

void DbusService::session_added(const SessionRecord& session)
{
    // The previous object of this name (closed a moment ago) must be gone first; this runs in
    // another object's handler, so it can go now.
    flush_graveyard();
    objects_.insert_or_assign(session.name, std::make_unique<SessionObject>(bus_, callers_, sessions_, session.name));
    announce("a new session", [&] {
        manager_->emitSessionNew(session.name, sdbus::ObjectPath(session_path(session.name)));
        manager_->properties_changed({"Sessions", "IncomingSessions"});
    });
}

void DbusService::session_removed(const std::string& name)
{
    auto it = objects_.find(name);
    if (it != objects_.end()) {
        bury(std::move(it->second));
        objects_.erase(it);
    }
    announce("a removed session", [&] {
        manager_->emitSessionRemoved(name, sdbus::ObjectPath(session_path(name)));
        manager_->properties_changed({"Sessions", "IncomingSessions"});
    });
}

void DbusService::session_changed(const SessionRecord& session, const std::vector<std::string>& properties)
{
    auto it = objects_.find(session.name);
    if (it != objects_.end())
        announce("a session change", [&] { it->second->properties_changed(properties); });
}

}  // namespace luod
