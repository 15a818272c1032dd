// SPDX-License-Identifier: Apache-2.0
#include "dbus_manager_object.h"

#include <algorithm>

#include "dbus_session_object.h"
#include "luo/dbus_api.h"
#include "luo/version.h"
#include "method_options.h"

namespace luod {

namespace {

using ManagerIface = org::luod::LiveUpdate1::Manager_adaptor;

}  // namespace

ManagerObject::ManagerObject(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions,
                             const SessionPaths& paths, const DeviceAccess& device, UpdateController& update)
    : AdaptorInterfaces(bus, luo::sdbus_compat::object_path(luo::dbus::kManagerPath)),
      callers_(callers),
      sessions_(sessions),
      paths_(paths),
      device_(device),
      update_(update)
{
    registerAdaptor();
}

ManagerObject::~ManagerObject() { unregisterAdaptor(); }

void ManagerObject::properties_changed(const std::vector<std::string>& properties)
{
    luo::sdbus_compat::emit_properties_changed(getObject(), ManagerIface::INTERFACE_NAME, properties);
}

void ManagerObject::signal_session(const char* member, const std::string& name, const std::string& path,
                                   const std::vector<std::string>& destinations)
{
    for (const std::string& destination : destinations) {
        sdbus::Signal signal = getObject().createSignal(ManagerIface::INTERFACE_NAME, member);
        signal << name << sdbus::ObjectPath(path);
        signal.setDestination(destination);
        getObject().emitSignal(signal);
    }
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
        return sdbus::ObjectPath(paths_.of(r.name));
    });
}

sdbus::ObjectPath ManagerObject::GetSession(const std::string& name)
{
    return guard([&] { return sdbus::ObjectPath(paths_.of(sessions_.get(caller(), name).name)); });
}

std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> ManagerObject::ListSessions()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> out;
        std::size_t bytes = 0;
        for (const SessionRecord* r : sessions_.list(caller())) {
            const std::string& path = paths_.of(r->name);
            bytes += r->name.size() + r->owner.unit.size() + path.size() + 48;  // with padding and lengths
            check_reply_size(bytes, "the list of sessions");
            out.emplace_back(r->name, luo::to_string(r->kind), r->owner.uid, r->owner.unit, sdbus::ObjectPath(path));
        }
        return out;
    });
}

sdbus::ObjectPath ManagerObject::RetrieveSession(const std::string& name)
{
    return guard([&] {
        return sdbus::ObjectPath(paths_.of(sessions_.retrieve_session(caller(), name).name));
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

std::vector<sdbus::Struct<std::string, std::string, std::string, uint32_t, uint32_t>> ManagerObject::ListInhibitors()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, std::string, std::string, uint32_t, uint32_t>> out;
        std::size_t bytes = 0;
        for (const Inhibitors::Held& h : update_.list_inhibitors(caller())) {
            bytes += h.who.size() + h.why.size() + 32;
            check_reply_size(bytes, "the list of inhibitors");
            out.emplace_back(h.who, h.why, std::string(to_string(h.mode)), static_cast<uint32_t>(h.uid),
                             static_cast<uint32_t>(h.pid));
        }
        return out;
    });
}

std::vector<sdbus::Struct<std::string, std::string, std::string>> ManagerObject::Check()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, std::string, std::string>> out;
        for (const CheckResult& r : update_.check(caller()))
            out.emplace_back(std::string(to_string(r.id)), std::string(to_string(r.verdict)), r.detail);
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
    return guard([&] { return std::string(luo::update::to_string(update_.state())); });
}

std::string ManagerObject::KernelState()
{
    return guard([&] { return update_.kernel_state(); });
}

std::string ManagerObject::Backend()
{
    return guard([&] { return std::string(luo::to_string(device_.transport())); });
}

std::vector<std::string> ManagerObject::KernelFeatures()
{
    return guard([&] { return device_.feature_names(); });
}

bool ManagerObject::KexecLoaded()
{
    return guard([&] { return update_.kexec_loaded(); });
}

std::string ManagerObject::LoadedCmdline()
{
    return guard([&] { return update_.loaded_cmdline().value_or(""); });
}

// Counts of the sessions the reader may see: root all, others their own.
uint32_t ManagerObject::Sessions()
{
    return guard([&] { return visible_count(luo::SessionKind::outgoing); });
}

uint32_t ManagerObject::IncomingSessions()
{
    return guard([&] { return visible_count(luo::SessionKind::incoming); });
}

uint32_t ManagerObject::visible_count(luo::SessionKind kind)
{
    auto visible = sessions_.list(callers_.of_property());
    return static_cast<uint32_t>(
        std::count_if(visible.begin(), visible.end(), [&](const SessionRecord* r) { return r->kind == kind; }));
}

uint64_t ManagerObject::LiveUpdateCount()
{
    return guard([&] { return update_.live_update_count(); });
}

std::string ManagerObject::LastUpdate()
{
    return guard([&] { return update_.last_update_json(); });
}

std::string ManagerObject::Version() { return LUO_VERSION; }

}  // namespace luod
