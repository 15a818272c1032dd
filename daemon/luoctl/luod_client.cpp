// SPDX-License-Identifier: Apache-2.0
#include "luod_client.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <tuple>
#include <utility>

#include "child_process.h"
#include "exit_codes.h"
#include "luo-dbus/manager-proxy.h"
#include "luo-dbus/sdbus_compat.h"
#include "luo-dbus/session-proxy.h"
#include "luo/dbus_api.h"

namespace luo::ctl {

namespace generated = org::luod::LiveUpdate1;

// The generated Manager proxy plus org.freedesktop.DBus.Properties. The verbs only call methods
// and read properties, so signals are ignored: 'update --wait' polls LiveUpdateCount and
// LastUpdate (update_progress_on_new_connection), which survives the bus restarting, where a
// signal subscription would not.
class ManagerProxy final : public sdbus::ProxyInterfaces<generated::Manager_proxy, sdbus::Properties_proxy> {
public:
    explicit ManagerProxy(sdbus::IConnection& connection)
        : ProxyInterfaces(connection, sdbus_compat::service_name(luo::dbus::kBusName),
                          sdbus_compat::object_path(luo::dbus::kManagerPath))
    {
        registerProxy();
    }
    ~ManagerProxy() { unregisterProxy(); }
    ManagerProxy(const ManagerProxy&) = delete;
    ManagerProxy& operator=(const ManagerProxy&) = delete;

private:
    void onSessionNew(const std::string&, const sdbus::ObjectPath&) override {}
    void onSessionRemoved(const std::string&, const sdbus::ObjectPath&) override {}
    void onPrepareForUpdate(const bool&) override {}
    void onUpdateFailed(const std::string&) override {}
    void onPropertiesChanged(const sdbus_compat::InterfaceName&, const sdbus_compat::PropertyMap&,
                             const std::vector<sdbus_compat::PropertyName>&) override
    {
    }
};

namespace {

class SessionProxy final : public sdbus::ProxyInterfaces<generated::Session_proxy, sdbus::Properties_proxy> {
public:
    SessionProxy(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, sdbus_compat::service_name(luo::dbus::kBusName),
                          sdbus_compat::object_path(std::move(path)))
    {
        registerProxy();
    }
    ~SessionProxy() { unregisterProxy(); }
    SessionProxy(const SessionProxy&) = delete;
    SessionProxy& operator=(const SessionProxy&) = delete;

private:
    void onPropertiesChanged(const sdbus_compat::InterfaceName&, const sdbus_compat::PropertyMap&,
                             const std::vector<sdbus_compat::PropertyName>&) override
    {
    }
};

// Runs one exchange with luod; an sdbus::Error becomes a CommandError saying what failed.
template <typename Exchange>
auto exchange_with_luod(const std::string& what_failed, Exchange&& exchange) -> decltype(exchange())
{
    try {
        return exchange();
    } catch (const sdbus::Error& e) {
        throw CommandError::from_dbus(what_failed, e.getMessage(), e.getName());
    }
}

// Typed access to the result of Properties.GetAll, with a clear report when luod's answer does
// not match the API (a version mismatch), instead of a bare deserialization error.
class PropertyReader {
public:
    PropertyReader(sdbus_compat::PropertyMap properties, std::string what_failed)
        : properties_(std::move(properties)), what_failed_(std::move(what_failed))
    {
    }

    template <typename T>
    T get(const std::string& name) const
    {
        auto found = properties_.find(sdbus_compat::PropertyName(name));
        if (found == properties_.end())
            throw CommandError(what_failed_, "luod did not report property " + name, "", ExitCode::failure);
        if (!found->second.template containsValueOfType<T>())
            throw CommandError(what_failed_,
                               "luod reported property " + name + " as type '" + found->second.peekValueType()
                                   + "' instead of '" + sdbus_compat::signature_of<T>() + "'",
                               "", ExitCode::failure);
        return found->second.template get<T>();
    }

private:
    sdbus_compat::PropertyMap properties_;
    std::string what_failed_;
};

// The bus connection for a call, or a CommandError saying luod cannot be reached: any failure
// here is about the bus, not about luod's answer, whatever errno name sd-bus chose (ENOENT,
// ECONNREFUSED, EACCES on the socket...).
std::unique_ptr<sdbus::IConnection> connect_to_system_bus()
{
    try {
        return sdbus::createSystemBusConnection();
    } catch (const sdbus::Error& e) {
        throw CommandError("cannot connect to the system bus", e.getMessage(), e.getName(), ExitCode::unreachable);
    }
}

UpdateProgress update_progress_from(const PropertyReader& properties)
{
    UpdateProgress progress;
    progress.state = properties.get<std::string>("State");
    progress.live_update_count = properties.get<std::uint64_t>("LiveUpdateCount");
    progress.last_update = properties.get<std::string>("LastUpdate");
    return progress;
}

ManagerStatus manager_status_from(const PropertyReader& properties)
{
    ManagerStatus snapshot;
    snapshot.version = properties.get<std::string>("Version");
    snapshot.backend = properties.get<std::string>("Backend");
    snapshot.state = properties.get<std::string>("State");
    snapshot.kernel_state = properties.get<std::string>("KernelState");
    snapshot.kexec_loaded = properties.get<bool>("KexecLoaded");
    snapshot.sessions = properties.get<std::uint32_t>("Sessions");
    snapshot.incoming_sessions = properties.get<std::uint32_t>("IncomingSessions");
    snapshot.live_update_count = properties.get<std::uint64_t>("LiveUpdateCount");
    snapshot.kernel_features = properties.get<std::vector<std::string>>("KernelFeatures");
    return snapshot;
}

constexpr const char* kReadProgressFailed = "cannot read luod's update state";

// A call that waits longer than this, while following an update, counts as "luod not
// answering" and is retried: the wait must not stall on a bus that is going away.
constexpr std::chrono::seconds kFollowCallTimeout{5};

// kexec_file_load(2) reads, hashes and (with lockdown or IMA) verifies the images: seconds on a
// slow or loaded machine, more in an emulator. The bus's 25 s default would report a failure
// while the load goes on and succeeds; a load that truly hangs still ends here.
constexpr std::chrono::minutes kLoadKernelCallTimeout{5};

}  // namespace

LuodClient::LuodClient() = default;
LuodClient::~LuodClient() = default;

ManagerProxy& LuodClient::manager()
{
    if (!manager_) {
        if (!connection_)
            connection_ = connect_to_system_bus();
        // Registering the proxy subscribes to its signals: a failure is still about the bus.
        try {
            manager_ = std::make_unique<ManagerProxy>(*connection_);
        } catch (const sdbus::Error& e) {
            throw CommandError("cannot connect to the system bus", e.getMessage(), e.getName(),
                               ExitCode::unreachable);
        }
    }
    return *manager_;
}

ManagerStatus LuodClient::status()
{
    const std::string what_failed = "cannot read luod's status";
    ManagerProxy& proxy = manager();
    return exchange_with_luod(what_failed, [&] {
        return manager_status_from(PropertyReader(proxy.GetAll(luo::dbus::kManagerInterface), what_failed));
    });
}

std::vector<SessionSummary> LuodClient::list_sessions()
{
    ManagerProxy& proxy = manager();
    return exchange_with_luod("cannot list sessions", [&] {
        std::vector<SessionSummary> sessions;
        auto add = [&](const auto& entries) {
            for (const auto& entry : entries) {
                SessionSummary session;
                session.name = std::get<0>(entry);
                session.kind = std::get<1>(entry);
                session.owner_uid = std::get<2>(entry);
                session.owner_unit = std::get<3>(entry);
                session.path = std::get<4>(entry);
                sessions.push_back(std::move(session));
            }
        };
        // A page at a time: each call costs luod what its page holds, however many sessions
        // it has. A luod without pages answers UnknownMethod (or its bus policy, installed
        // before pages, AccessDenied): the whole list then.
        constexpr std::uint32_t kPage = 1000;
        std::string after;
        try {
            do {
                auto [page, next] = proxy.ListSessionsPage(after, kPage);
                add(page);
                after = std::move(next);
            } while (!after.empty());
        } catch (const sdbus::Error& e) {
            if ((e.getName() != "org.freedesktop.DBus.Error.UnknownMethod" &&
                 e.getName() != "org.freedesktop.DBus.Error.AccessDenied") ||
                !sessions.empty())
                throw;
            add(proxy.ListSessions());
        }
        return sessions;
    });
}

std::vector<InhibitorEntry> LuodClient::list_inhibitors()
{
    ManagerProxy& proxy = manager();
    return exchange_with_luod("cannot list the inhibitors", [&] {
        std::vector<InhibitorEntry> out;
        for (const auto& entry : proxy.ListInhibitors())
            out.push_back({std::get<0>(entry), std::get<1>(entry), std::get<2>(entry), std::get<3>(entry),
                           std::get<4>(entry)});
        return out;
    });
}

void LuodClient::close_session(const std::string& name)
{
    const std::string what_failed = "cannot close session '" + name + "'";
    ManagerProxy& proxy = manager();
    std::string path = exchange_with_luod(what_failed, [&] { return std::string(proxy.GetSession(name)); });
    exchange_with_luod(what_failed, [&] {
        SessionProxy session_proxy(*connection_, path);
        session_proxy.Close();
    });
}

SessionDetails LuodClient::session(const std::string& name)
{
    const std::string what_failed = "cannot get session '" + name + "'";
    ManagerProxy& proxy = manager();
    std::string path = exchange_with_luod(what_failed, [&] { return std::string(proxy.GetSession(name)); });

    const std::string read_failed = "cannot read session '" + name + "'";
    try {
        SessionProxy session_proxy(*connection_, path);
        PropertyReader properties(session_proxy.GetAll(luo::dbus::kSessionInterface), read_failed);
        SessionDetails details;
        details.name = properties.get<std::string>("Name");
        details.kind = properties.get<std::string>("Kind");
        details.state = properties.get<std::string>("State");
        details.owner_uid = properties.get<std::uint32_t>("OwnerUID");
        details.owner_unit = properties.get<std::string>("OwnerUnit");
        details.path = path;
        details.file_count = properties.get<std::uint32_t>("FileCount");
        using FileEntry = sdbus::Struct<std::string, std::uint64_t, std::string>;
        for (const auto& entry : properties.get<std::vector<FileEntry>>("Files"))
            details.files.push_back({std::get<0>(entry), std::get<1>(entry), std::get<2>(entry)});
        return details;
    } catch (const sdbus::Error& e) {
        // The session was closed between GetSession and reading it: for the user it does not exist.
        bool vanished = e.getName() == "org.freedesktop.DBus.Error.UnknownObject";
        if (vanished)
            throw CommandError(read_failed, e.getMessage(), e.getName(), ExitCode::no_such_session);
        throw CommandError::from_dbus(read_failed, e.getMessage(), e.getName());
    }
}

std::string LuodClient::load_kernel(const KernelLoadRequest& request)
{
    std::map<std::string, sdbus::Variant> options;
    if (request.reuse_cmdline)
        options.emplace("ReuseCmdline", sdbus::Variant(true));
    if (request.no_liveupdate_flags)
        options.emplace("NoLiveUpdateFlags", sdbus::Variant(true));
    ManagerProxy& proxy = manager();
    const std::uint64_t usual_timeout = connection_->getMethodCallTimeout();
    connection_->setMethodCallTimeout(kLoadKernelCallTimeout);
    try {
        exchange_with_luod("cannot load kernel '" + request.kernel + "'",
                           [&] { proxy.LoadKernel(request.kernel, request.initrd, request.cmdline, options); });
    } catch (...) {
        connection_->setMethodCallTimeout(usual_timeout);
        throw;
    }
    connection_->setMethodCallTimeout(usual_timeout);
    return exchange_with_luod("cannot read the loaded command line", [&] { return proxy.LoadedCmdline(); });
}

void LuodClient::unload_kernel()
{
    ManagerProxy& proxy = manager();
    exchange_with_luod("cannot unload the kernel", [&] { proxy.UnloadKernel(); });
}

std::vector<CheckResult> LuodClient::check()
{
    ManagerProxy& proxy = manager();
    return exchange_with_luod("cannot run the pre-flight checks", [&] {
        std::vector<CheckResult> checks;
        for (const auto& entry : proxy.Check())
            checks.push_back({std::get<0>(entry), std::get<1>(entry), std::get<2>(entry)});
        return checks;
    });
}

void LuodClient::update(const UpdateRequest& request)
{
    std::map<std::string, sdbus::Variant> options;
    options.emplace("DryRun", sdbus::Variant(request.dry_run));
    options.emplace("Force", sdbus::Variant(request.force));
    if (request.delay_timeout_usec)
        options.emplace("DelayTimeoutUSec", sdbus::Variant(*request.delay_timeout_usec));
    if (request.strategy)
        options.emplace("Strategy", sdbus::Variant(*request.strategy));
    ManagerProxy& proxy = manager();
    exchange_with_luod("cannot start the update", [&] { proxy.Update(options); });
}

void LuodClient::cancel()
{
    ManagerProxy& proxy = manager();
    exchange_with_luod("cannot cancel the update", [&] { proxy.Cancel(); });
}

UniqueFd LuodClient::inhibit(const InhibitRequest& request)
{
    ManagerProxy& proxy = manager();
    sdbus::UnixFd lock = exchange_with_luod("cannot take an inhibitor lock", [&] {
        return proxy.Inhibit("update", request.who, request.why, request.mode);
    });
    if (lock.get() < 0)
        throw CommandError("cannot take an inhibitor lock", "luod's reply carries no fd", "", ExitCode::failure);
    // sdbus-c++ hands over a dup() of the received fd, which is inheritable.
    UniqueFd fd(lock.release());
    set_close_on_exec(fd.get());
    return fd;
}

MetricsSnapshot LuodClient::metrics_snapshot()
{
    const std::string what_failed = "cannot read luod's metrics";
    ManagerProxy& proxy = manager();
    MetricsSnapshot snapshot = exchange_with_luod(what_failed, [&] {
        PropertyReader properties(proxy.GetAll(luo::dbus::kManagerInterface), what_failed);
        MetricsSnapshot read;
        read.status = manager_status_from(properties);
        read.last_update = properties.get<std::string>("LastUpdate");
        return read;
    });
    for (const SessionSummary& session : list_sessions()) {
        const std::string read_failed = "cannot read the file count of session '" + session.name + "'";
        try {
            std::unique_ptr<sdbus::IProxy> session_proxy =
                sdbus_compat::create_proxy(*connection_, luo::dbus::kBusName, session.path);
            sdbus::Variant count = session_proxy->getProperty("FileCount").onInterface(luo::dbus::kSessionInterface);
            if (!count.containsValueOfType<std::uint32_t>())
                throw CommandError(read_failed,
                                   "luod reported FileCount as type '" + std::string(count.peekValueType()) + "' instead of 'u'",
                                   "", ExitCode::failure);
            snapshot.files += count.get<std::uint32_t>();
        } catch (const sdbus::Error& e) {
            // Closed, or finished and released, since ListSessions: it holds no files now.
            if (e.getName() == "org.freedesktop.DBus.Error.UnknownObject")
                continue;
            throw CommandError::from_dbus(read_failed, e.getMessage(), e.getName());
        }
    }
    return snapshot;
}

UpdateProgress LuodClient::update_progress()
{
    ManagerProxy& proxy = manager();
    return exchange_with_luod(kReadProgressFailed, [&] {
        return update_progress_from(
            PropertyReader(proxy.GetAll(luo::dbus::kManagerInterface), kReadProgressFailed));
    });
}

UpdateProgress LuodClient::update_progress_on_new_connection()
{
    std::unique_ptr<sdbus::IConnection> connection = connect_to_system_bus();
    // A plain proxy: no signal subscriptions, one call.
    return exchange_with_luod(kReadProgressFailed, [&] {
        connection->setMethodCallTimeout(kFollowCallTimeout);
        std::unique_ptr<sdbus::IProxy> proxy =
            sdbus_compat::create_proxy(*connection, luo::dbus::kBusName, luo::dbus::kManagerPath);
        sdbus_compat::PropertyMap properties;
        proxy->callMethod("GetAll")
            .onInterface("org.freedesktop.DBus.Properties")
            .withArguments(std::string(luo::dbus::kManagerInterface))
            .storeResultsTo(properties);
        return update_progress_from(PropertyReader(std::move(properties), kReadProgressFailed));
    });
}

void LuodClient::disconnect()
{
    manager_.reset();
    connection_.reset();
}

}  // namespace luo::ctl
