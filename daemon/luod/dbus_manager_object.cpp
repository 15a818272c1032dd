// SPDX-License-Identifier: Apache-2.0
#include "dbus_manager_object.h"

#include <algorithm>
#include <exception>
#include <tuple>
#include <type_traits>

#include "api_error.h"
#include "dbus_session_object.h"
#include "luo/dbus_api.h"
#include "luo/version.h"
#include "method_options.h"
#include "names.h"
#include "polkit_actions.h"

namespace luod {

namespace {

using ManagerIface = org::luod::LiveUpdate1::Manager_adaptor;

// The most entries of one ListSessionsPage reply (dbus/org.luod.LiveUpdate1.Manager.xml).
constexpr std::uint32_t kMaxSessionsPage = 10000;

}  // namespace

ManagerObject::ManagerObject(sdbus::IConnection& bus, Callers& callers, PolkitAuthority& polkit,
                             SessionRegistry& sessions, SessionObjects& objects, const DeviceAccess& device,
                             UpdateController& update)
    : AdaptorInterfaces(bus, luo::sdbus_compat::object_path(luo::dbus::kManagerPath)),
      callers_(callers),
      polkit_(polkit),
      sessions_(sessions),
      objects_(objects),
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
        sdbus::Signal signal = luo::sdbus_compat::create_signal(getObject(), ManagerIface::INTERFACE_NAME, member);
        signal << name << sdbus::ObjectPath(path);
        signal.setDestination(destination);
        getObject().emitSignal(signal);
    }
}

namespace {

// Replies to `pending` with what `body()` returns, or the D-Bus error of what it throws.
template <typename... Out, typename Body>
void reply(sdbus::Result<Out...>& pending, Body&& body)
{
    try {
        if constexpr (sizeof...(Out) == 0) {
            body();
            pending.returnResults();
        } else if constexpr (sizeof...(Out) == 1) {
            pending.returnResults(body());
        } else {
            std::apply([&](const auto&... out) { pending.returnResults(out...); }, body());
        }
    } catch (...) {
        try {
            rethrow_as_dbus_error();
        } catch (const sdbus::Error& e) {
            pending.returnError(e);
        }
    }
}

}  // namespace

template <typename... Out, typename Body>
void ManagerObject::privileged(sdbus::Result<Out...>&& result, const char* action, Body&& body, bool needs_sessions)
{
    // What can throw (an error reply) comes before the result is taken.
    Caller who = caller();
    bool ask_polkit = action && !who.is_root();
    std::string sender = ask_polkit ? callers_.sender_of_method(getObject()) : std::string();
    // sdbus::Result can only be moved; the polkit callback must be copyable.
    auto pending = std::make_shared<sdbus::Result<Out...>>(std::move(result));
    auto run = [this, pending, needs_sessions, body = std::forward<Body>(body)](const Caller& c) {
        if constexpr (std::is_invocable_v<Body&, const Caller&, const Pending<Out...>&>) {
            // A body that replies later itself (when work off the loop is done); what it
            // throws now is the reply.
            try {
                body(c, pending);
            } catch (...) {
                reply(*pending, [] { throw; });
            }
        } else if (!needs_sessions) {
            reply(*pending, [&] { return body(c); });
        } else {
            update_.when_sessions_known([pending, body, c] { reply(*pending, [&] { return body(c); }); });
        }
    };
    if (!ask_polkit) {
        run(who);
        return;
    }
    polkit_.check(sender, action, [who, run](bool allowed) mutable {
        who.delegated = allowed;
        run(who);
    });
}

template <typename... Out, typename Body>
void ManagerObject::with_sessions(sdbus::Result<Out...>&& result, Body&& body)
{
    Caller who = caller();  // now: the call is the current message only while its handler runs
    auto pending = std::make_shared<sdbus::Result<Out...>>(std::move(result));
    update_.when_sessions_known(
        [pending, who, body = std::forward<Body>(body)] { reply(*pending, [&] { return body(who); }); });
}

template <typename... Out, typename Body>
void ManagerObject::with_owners(sdbus::Result<Out...>&& result, Body&& body)
{
    Caller who = caller();
    auto pending = std::make_shared<sdbus::Result<Out...>>(std::move(result));
    update_.when_owners_known(
        [pending, who, body = std::forward<Body>(body)] { reply(*pending, [&] { return body(who); }); });
}

void ManagerObject::CreateSession(sdbus::Result<sdbus::ObjectPath>&& result, std::string name,
                                  std::map<std::string, sdbus::Variant> options)
{
    guard([&] {
        // Arguments first: a malformed call is refused at once.
        validate_session_name(name);
        CreateSessionOptions o = parse_create_session_options(decode_options(options));
        with_sessions(std::move(result), [this, name = std::move(name), o](const Caller& who) {
            std::optional<Owner> on_behalf;
            if (o.owner_uid || o.owner_unit)
                on_behalf = Owner{o.owner_uid.value_or(who.uid), o.owner_unit.value_or("")};
            const SessionRecord& r = sessions_.create(who, name, on_behalf);
            return sdbus::ObjectPath(objects_.publish(r.name));
        });
    });
}

void ManagerObject::GetSession(sdbus::Result<sdbus::ObjectPath>&& result, std::string name)
{
    guard([&] {
        with_sessions(std::move(result), [this, name = std::move(name)](const Caller& who) {
            return sdbus::ObjectPath(objects_.publish(sessions_.get(who, name).name));
        });
    });
}

void ManagerObject::ListSessions(sdbus::Result<SessionList>&& result)
{
    guard([&] {
        // Every session is listed (root) or looked at (anyone else): their owners read first,
        // in steps.
        with_owners(std::move(result), [this](const Caller& who) {
            SessionList out;
            std::size_t bytes = 0;
            for (const SessionRegistry::Listed& s : sessions_.list(who)) {
                const std::string& path = objects_.publish(s.name);
                bytes += s.name.size() + s.owner.unit.size() + path.size() + 48;  // with padding and lengths
                check_reply_size(bytes, "the list of sessions");
                out.emplace_back(s.name, luo::to_string(s.kind), s.owner.uid, s.owner.unit, sdbus::ObjectPath(path));
            }
            return out;
        });
    });
}

void ManagerObject::ListSessionsPage(sdbus::Result<SessionList, std::string>&& result, std::string after,
                                     uint32_t limit)
{
    guard([&] {
        if (limit == 0 || limit > kMaxSessionsPage)
            fail(ErrorKind::invalid_args, "limit " + std::to_string(limit) + " is not within 1 to " +
                                              std::to_string(kMaxSessionsPage));
        auto answer = [this, after = std::move(after), limit](const Caller& who) {
            SessionRegistry::Page page = sessions_.page(who, after, limit);
            SessionList out;
            for (const SessionRegistry::Listed& s : page.sessions)
                out.emplace_back(s.name, luo::to_string(s.kind), s.owner.uid, s.owner.unit,
                                 sdbus::ObjectPath(objects_.publish(s.name)));
            return std::make_tuple(std::move(out), std::move(page.next));
        };
        // Root's page reads only its own sessions' entries; anyone else's page looks for its
        // own among everyone's, whose owners are read first, in steps.
        if (caller().is_root())
            with_sessions(std::move(result), std::move(answer));
        else
            with_owners(std::move(result), std::move(answer));
    });
}

void ManagerObject::RetrieveSession(sdbus::Result<sdbus::ObjectPath>&& result, std::string name)
{
    guard([&] {
        with_sessions(std::move(result), [this, name = std::move(name)](const Caller& who) {
            return sdbus::ObjectPath(objects_.publish(sessions_.retrieve_session(who, name).name));
        });
    });
}

void ManagerObject::Inhibit(sdbus::Result<sdbus::UnixFd>&& result, std::string what, std::string who,
                            std::string why, std::string mode)
{
    // A delay lock is anyone's; polkit is asked only for a block lock of someone else than root.
    const char* action = mode == "block" ? polkit_action::kInhibitBlock : nullptr;
    guard([&] {
        privileged(std::move(result), action,
                   [this, what = std::move(what), who = std::move(who), why = std::move(why),
                    mode = std::move(mode)](const Caller& c) {
                       luo::UniqueFd fd = update_.inhibit(c, what, who, why, mode);
                       return sdbus::UnixFd(fd.release(), sdbus::adopt_fd);
                   });
    });
}

void ManagerObject::LoadKernel(sdbus::Result<>&& result, std::string kernel, std::string initrd,
                               std::string cmdline, std::map<std::string, sdbus::Variant> options)
{
    guard([&] {
        // Arguments first: a malformed call is refused before polkit is asked.
        LoadKernelOptions o = parse_load_kernel_options(decode_options(options));
        privileged(std::move(result), polkit_action::kLoadKernel,
                   [this, kernel = std::move(kernel), initrd = std::move(initrd), cmdline = std::move(cmdline),
                    o](const Caller& c, const Pending<>& pending) {
                       update_.load_kernel(c, kernel, initrd, cmdline, o.reuse_cmdline, o.no_liveupdate_flags,
                                           [pending](std::exception_ptr error) {
                                               reply(*pending, [&] {
                                                   if (error)
                                                       std::rethrow_exception(error);
                                               });
                                           });
                   });
    });
}

void ManagerObject::UnloadKernel(sdbus::Result<>&& result)
{
    guard([&] {
        privileged(std::move(result), polkit_action::kLoadKernel, [this](const Caller& c) { update_.unload_kernel(c); });
    });
}

void ManagerObject::ListInhibitors(sdbus::Result<InhibitorList>&& result)
{
    guard([&] {
        privileged(std::move(result), polkit_action::kListInhibitors, [this](const Caller& c) {
            InhibitorList out;
            std::size_t bytes = 0;
            for (const Inhibitors::Held& h : update_.list_inhibitors(c)) {
                bytes += h.who.size() + h.why.size() + 32;
                check_reply_size(bytes, "the list of inhibitors");
                out.emplace_back(h.who, h.why, std::string(to_string(h.mode)), static_cast<uint32_t>(h.uid),
                                 static_cast<uint32_t>(h.pid));
            }
            return out;
        });
    });
}

void ManagerObject::Check(sdbus::Result<std::vector<sdbus::Struct<std::string, std::string, std::string>>>&& result)
{
    guard([&] {
        with_sessions(std::move(result), [this](const Caller& who) {
            std::vector<sdbus::Struct<std::string, std::string, std::string>> out;
            for (const CheckResult& r : update_.check(who))
                out.emplace_back(std::string(to_string(r.id)), std::string(to_string(r.verdict)), r.detail);
            return out;
        });
    });
}

void ManagerObject::Update(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> options)
{
    guard([&] {
        UpdateOptions o = parse_update_options(decode_options(options));
        privileged(std::move(result), polkit_action::kUpdate, [this, o](const Caller& c) { update_.update(c, o); },
                   true);
    });
}

void ManagerObject::Cancel(sdbus::Result<>&& result)
{
    guard([&] {
        privileged(std::move(result), polkit_action::kUpdate, [this](const Caller& c) { update_.cancel(c); });
    });
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
    // No session is restored for it; root's counts and anyone's outgoing count do not walk
    // the update's manifest either (SessionRegistry::count_visible()).
    return static_cast<uint32_t>(sessions_.count_visible(callers_.of_property(), kind));
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
