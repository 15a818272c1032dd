// SPDX-License-Identifier: Apache-2.0
#include "luod_harness.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <linux/kcmp.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include "luo-dbus/sdbus_compat.h"
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "eventually.h"
#include "luo/dbus_api.h"
#include "luo/device.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/model_wire.h"

#ifndef LUO_SOURCE_DIR
#error "LUO_SOURCE_DIR must name the source tree"
#endif

namespace luo::test {

namespace {

// dbus/private-system-bus.conf.in: the system bus's defaults plus luod's policy file.
std::string bus_config(const std::filesystem::path& socket)
{
    std::ifstream in(std::filesystem::path(LUO_SOURCE_DIR) / "dbus/private-system-bus.conf.in");
    std::string text(std::istreambuf_iterator<char>(in), {});
    auto fill = [&](const std::string& key, const std::string& value) {
        if (text.find(key) == std::string::npos)
            throw std::runtime_error("private-system-bus.conf.in lacks " + key);
        for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
            text.replace(at, key.size(), value);
    };
    fill("@SOCKET@", socket.native());
    fill("@POLICY@", std::string(LUO_SOURCE_DIR) + "/dbus/org.luod.LiveUpdate1.conf");
    return text;
}

}  // namespace

SystemBus::SystemBus() : dir_("luo-bus")
{
    ::chmod(dir_.path().c_str(), 0755);  // other uids connect too
    auto socket = dir_.path() / "system_bus_socket";
    auto config = dir_.path() / "system.conf";
    std::ofstream(config) << bus_config(socket);
    // dbus-daemon prints its address once it accepts connections: that is "ready" (the
    // socket file alone exists a moment before it listens).
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) < 0)
        throw_last_errno("pipe");
    UniqueFd ready_read(ready[0]), ready_write(ready[1]);
    pid_ = ::fork();
    if (pid_ < 0)
        throw_last_errno("fork");
    if (pid_ == 0) {
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(ready_write.get(), 3);
        ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
        ::setpgid(0, 0);
        exec_program({"/usr/bin/dbus-daemon", "--config-file=" + config.native(), "--nofork", "--nopidfile",
                      "--print-address=3"},
                     {}, 4);
    }
    ready_write.reset();
    pollfd p{ready_read.get(), POLLIN, 0};
    char address[512] = {};
    if (::poll(&p, 1, 30000) != 1 || ::read(ready_read.get(), address, sizeof address - 1) <= 0)
        throw std::runtime_error("dbus-daemon did not start");
    address_ = "unix:path=" + socket.native();
}

SystemBus::~SystemBus()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
}

NotifySocket::NotifySocket() : dir_("luo-notify")
{
    sock_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path().c_str(), sizeof addr.sun_path - 1);
    if (::bind(sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        throw_last_errno("bind notify socket");
    stop_.reset(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] { run(); });
}

NotifySocket::~NotifySocket()
{
    std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
}

void NotifySocket::run()
{
    for (;;) {
        pollfd p[2] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        ::poll(p, 2, -1);
        if (p[1].revents)
            return;
        // Until the non-blocking socket has nothing more (EAGAIN).
        for (model_wire::Datagram d; model_wire::recv_datagram(sock_.get(), 4096, model_wire::kMaxFdsPerDatagram, d) == 0;)
            handle(std::string(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()), std::move(d.fds));
    }
}

void NotifySocket::handle(const std::string& text, std::vector<UniqueFd> fds)
{
    std::map<std::string, std::string> fields;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        auto eq = line.find('=');
        if (eq != std::string::npos)
            fields[line.substr(0, eq)] = line.substr(eq + 1);
    }
    std::lock_guard lock(mutex_);
    if (fields["READY"] == "1")
        ready_ = true;
    if (fields["WATCHDOG"] == "1")
        ++watchdog_pings_;
    if (fields.count("STATUS"))
        status_ = fields["STATUS"];
    if (fields["FDSTORE"] == "1")
        for (auto& fd : fds) {
            // As systemd does: a file already in the store (the same open file, whatever its
            // name) is not stored again, and keeps its name.
            pid_t self = ::getpid();
            bool stored = std::any_of(store_.begin(), store_.end(), [&](const auto& entry) {
                return ::syscall(SYS_kcmp, self, self, KCMP_FILE, entry.second.get(), fd.get()) == 0;
            });
            if (!stored)
                store_.emplace_back(fields["FDNAME"], std::move(fd));
        }
    if (fields["FDSTOREREMOVE"] == "1")
        std::erase_if(store_, [&](const auto& entry) { return entry.first == fields["FDNAME"]; });
    if (fields.count("SYNC"))
        syncs_handled_ = std::max<std::uint64_t>(syncs_handled_, std::strtoull(fields["SYNC"].c_str(), nullptr, 10));
    changed_.notify_all();
}

bool NotifySocket::wait_ready(std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return ready_; });
}

void NotifySocket::reset_ready()
{
    std::lock_guard lock(mutex_);
    ready_ = false;
}

void NotifySocket::sync()
{
    // Datagrams already queued are handled before the one sent now.
    UniqueFd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path().c_str(), sizeof addr.sun_path - 1);
    // Waiting for "one more datagram handled" was not enough: with two of luod's still queued
    // (an fd store's index and log segment), the first made it true. The probe names itself.
    std::unique_lock lock(mutex_);
    std::uint64_t token = ++syncs_sent_;
    lock.unlock();
    std::string text = "SYNC=" + std::to_string(token);
    ::sendto(probe.get(), text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    lock.lock();
    changed_.wait_for(lock, std::chrono::seconds(30), [&] { return syncs_handled_ >= token; });
}

bool NotifySocket::wait_watchdog(std::size_t count, std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return watchdog_pings_ >= count; });
}

std::string NotifySocket::status() const
{
    std::lock_guard lock(mutex_);
    return status_;
}

std::size_t NotifySocket::stored(const std::string& name) const
{
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [key, fd] : store_)
        n += key == name;
    return n;
}

void NotifySocket::replace_store(std::vector<std::pair<std::string, UniqueFd>> store)
{
    std::lock_guard lock(mutex_);
    store_ = std::move(store);
}

std::vector<std::pair<std::string, UniqueFd>> NotifySocket::copy_store() const
{
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, UniqueFd>> out;
    for (const auto& [name, fd] : store_)
        out.emplace_back(name, dup_fd(fd.get()));
    return out;
}

LuodProcess::LuodProcess(const ModelProcess& model, const SystemBus& bus, LuodOptions options)
    : model_(model), bus_(bus), options_(std::move(options)), dir_("luod-test")
{
    start();
}

LuodProcess::~LuodProcess()
{
    if (pid_ > 0 && alive())
        stop(SIGKILL);
}

void LuodProcess::start(bool expect_ready)
{
    auto config = dir_.path() / "luod.conf";
    std::ofstream(config) << options_.config;
    std::vector<std::string> args{built_program("luod").native(), "--root", model_.root().native(), "--config",
                                  config.native(), "--log-level", "debug"};
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    // A command to run luod under, e.g. valgrind (scripts/sanitize.sh), its program named by
    // absolute path (execv): same pid, same fds.
    if (const char* wrapper = std::getenv("LUO_TEST_LUOD_WRAPPER"); wrapper && *wrapper) {
        std::istringstream words(wrapper);
        std::vector<std::string> prefix{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
        args.insert(args.begin(), prefix.begin(), prefix.end());
    }
    std::vector<int> listen;
    std::string names;
    std::vector<std::pair<std::string, UniqueFd>> passed;
    if (options_.fd_store) {
        notify_.sync();
        passed = notify_.copy_store();
        for (const auto& [name, fd] : passed) {
            listen.push_back(fd.get());
            names += (names.empty() ? "" : ":") + name;
        }
    }
    notify_.reset_ready();
    auto log = dir_.path() / "luod.log";
    pid_ = ::fork();
    if (pid_ < 0)
        throw_last_errno("fork");
    if (pid_ == 0) {
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::setpgid(0, 0);
        // The fd store comes back as fds 3, 4, ... like systemd passes it.
        std::vector<int> copies;
        for (int fd : listen)
            copies.push_back(::fcntl(fd, F_DUPFD, 3 + static_cast<int>(listen.size())));
        for (std::size_t i = 0; i < copies.size(); ++i)
            ::dup2(copies[i], 3 + static_cast<int>(i));
        // luod must hold exactly what systemd would pass: nothing of the test's.
        ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_.address().c_str(), 1);
        for (const auto& e : options_.env)
            ::putenv(const_cast<char*>(e.c_str()));
        if (options_.fd_store) {
            ::setenv("NOTIFY_SOCKET", notify_.path().c_str(), 1);
            if (!listen.empty()) {
                ::setenv("LISTEN_FDS", std::to_string(listen.size()).c_str(), 1);
                ::setenv("LISTEN_FDNAMES", names.c_str(), 1);
                ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
            }
            if (options_.watchdog.count() > 0) {
                ::setenv("WATCHDOG_USEC", std::to_string(options_.watchdog.count()).c_str(), 1);
                ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
            }
        }
        exec_program(args, {}, 3 + static_cast<int>(copies.size()));
    }
    passed.clear();
    if (!expect_ready)
        return;
    bool ready = false;
    if (options_.fd_store) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!(ready = notify_.wait_ready(std::chrono::milliseconds(50))) && alive() &&
               std::chrono::steady_clock::now() < deadline) {
        }
    } else {
        // Without a notify socket: ready once it answers on the bus.
        LuodClient probe(bus_.address());
        ready = eventually(
            [&] { return alive() && dbus_error_of([&] { probe.manager_string("Version"); }).empty(); },
            std::chrono::seconds(60), std::chrono::milliseconds(5));
    }
    if (!ready)
        throw std::runtime_error("luod did not become ready; log:\n" + this->log());
}

int LuodProcess::stop(int signal)
{
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    notify_.sync();
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int LuodProcess::wait_exit()
{
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

bool LuodProcess::alive() const
{
    int status;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
}

std::string LuodProcess::log() const
{
    std::ifstream in(dir_.path() / "luod.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- client ----

LuodClient::LuodClient(const std::string& bus_address)
    : bus_(sdbus::createSessionBusConnectionWithAddress(bus_address))
{
}

LuodClient::~LuodClient() = default;

sdbus::IProxy& LuodClient::manager()
{
    if (!manager_)
        manager_ = luo::sdbus_compat::create_proxy(*bus_, dbus::kBusName, dbus::kManagerPath);
    return *manager_;
}

std::unique_ptr<sdbus::IProxy> LuodClient::session(const std::string& name)
{
    return luo::sdbus_compat::create_proxy(*bus_, dbus::kBusName, get_session(name));
}

std::string LuodClient::create_session(const std::string& name)
{
    sdbus::ObjectPath path;
    manager()
        .callMethod("CreateSession")
        .onInterface(dbus::kManagerInterface)
        .withArguments(name, std::map<std::string, sdbus::Variant>{})
        .storeResultsTo(path);
    return path;
}

std::string LuodClient::get_session(const std::string& name)
{
    sdbus::ObjectPath path;
    manager().callMethod("GetSession").onInterface(dbus::kManagerInterface).withArguments(name).storeResultsTo(path);
    return path;
}

std::vector<std::string> LuodClient::list_session_names()
{
    std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> list;
    manager().callMethod("ListSessions").onInterface(dbus::kManagerInterface).storeResultsTo(list);
    std::vector<std::string> names;
    for (const auto& s : list)
        names.push_back(std::get<0>(s));
    return names;
}

std::uint64_t LuodClient::preserve(const std::string& name, int fd, const std::string& label)
{
    std::uint64_t token = 0;
    session(name)
        ->callMethod("PreserveFd")
        .onInterface(dbus::kSessionInterface)
        .withArguments(sdbus::UnixFd(fd), label)
        .storeResultsTo(token);
    return token;
}

std::vector<std::uint64_t> LuodClient::preserve(const std::string& name, const std::vector<std::pair<int, std::string>>& files)
{
    std::vector<sdbus::Struct<sdbus::UnixFd, std::string>> batch;
    for (const auto& [fd, label] : files)
        batch.emplace_back(sdbus::UnixFd(fd), label);
    std::vector<std::uint64_t> tokens;
    session(name)->callMethod("PreserveFds").onInterface(dbus::kSessionInterface).withArguments(batch).storeResultsTo(tokens);
    return tokens;
}

UniqueFd LuodClient::acquire_fd(const std::string& name)
{
    sdbus::UnixFd fd;
    session(name)->callMethod("AcquireFd").onInterface(dbus::kSessionInterface).storeResultsTo(fd);
    return UniqueFd(fd.release());
}

UniqueFd LuodClient::retrieve_fd(const std::string& name, const std::string& label)
{
    sdbus::UnixFd fd;
    session(name)->callMethod("RetrieveFd").onInterface(dbus::kSessionInterface).withArguments(label).storeResultsTo(fd);
    return UniqueFd(fd.release());
}

void LuodClient::finish(const std::string& name)
{
    session(name)->callMethod("Finish").onInterface(dbus::kSessionInterface);
}

void LuodClient::close(const std::string& name)
{
    session(name)->callMethod("Close").onInterface(dbus::kSessionInterface);
}

std::vector<std::tuple<std::string, std::uint64_t, std::string>> LuodClient::files(const std::string& name)
{
    auto raw = session(name)
                   ->getProperty("Files")
                   .onInterface(dbus::kSessionInterface)
                   .get<std::vector<sdbus::Struct<std::string, uint64_t, std::string>>>();
    std::vector<std::tuple<std::string, std::uint64_t, std::string>> out;
    for (const auto& f : raw)
        out.emplace_back(std::get<0>(f), std::get<1>(f), std::get<2>(f));
    return out;
}

std::string LuodClient::session_property_string(const std::string& name, const std::string& property)
{
    return session(name)->getProperty(property).onInterface(dbus::kSessionInterface).get<std::string>();
}

std::uint32_t LuodClient::manager_u32(const std::string& property)
{
    return manager().getProperty(property).onInterface(dbus::kManagerInterface).get<std::uint32_t>();
}

std::string LuodClient::manager_string(const std::string& property)
{
    return manager().getProperty(property).onInterface(dbus::kManagerInterface).get<std::string>();
}

std::string LuodClient::last_update()
{
    std::string report;
    (void)eventually([&] {
        report = manager_string("LastUpdate");
        auto r = nlohmann::json::parse(report);
        return !r.value("phases", nlohmann::json::object()).contains("restore_ready") || r.contains("session_outcomes");
    });
    return report;
}

void LuodClient::call_manager(const std::string& member)
{
    manager().callMethod(member).onInterface(dbus::kManagerInterface);
}

void LuodClient::load_kernel(const std::string& path)
{
    manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
        .withArguments(path, std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
}

// ---- signals ----

SignalRecorder::SignalRecorder(const std::string& bus_address)
    : bus_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      proxy_(luo::sdbus_compat::create_proxy(*bus_, dbus::kBusName, dbus::kManagerPath))
{
    auto record = [this](std::string event) {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(event));
        changed_.notify_all();
    };
    proxy_->uponSignal("PrepareForUpdate").onInterface(dbus::kManagerInterface).call([record](bool start) {
        record(start ? "prepare true" : "prepare false");
    });
    proxy_->uponSignal("UpdateFailed").onInterface(dbus::kManagerInterface).call([record](const std::string& reason) {
        record("failed " + reason);
    });
    luo::sdbus_compat::finish_proxy_registration(*proxy_);
    bus_->enterEventLoopAsync();
}

SignalRecorder::~SignalRecorder()
{
    bus_->leaveEventLoop();
    proxy_.reset();
}

std::vector<std::string> SignalRecorder::events() const
{
    std::lock_guard lock(mutex_);
    return events_;
}

bool SignalRecorder::wait_for(const std::string& prefix, std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] {
        return std::any_of(events_.begin(), events_.end(), [&](const auto& e) { return e.rfind(prefix, 0) == 0; });
    });
}

// ---- systemd stand-in ----

SystemdStandIn::SystemdStandIn(const std::string& bus_address, std::string version, bool held,
                               std::uint32_t job_before_version)
    : bus_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      version_(std::move(version)),
      held_(held),
      job_before_version_(job_before_version)
{
    const char* manager = "org.freedesktop.systemd1.Manager";
    object_ = luo::sdbus_compat::create_object(*bus_, "/org/freedesktop/systemd1");
    luo::sdbus_compat::VTable(*object_, manager)
        .property("Version",
                  [this] {
                      std::uint32_t job = std::exchange(job_before_version_, 0);
                      if (job != 0)
                          emit_job_new(job, "kexec.target");  // sent before the reply, on the same connection
                      std::unique_lock lock(mutex_);
                      ++version_requests_;
                      requested_.notify_all();
                      released_.wait(lock, [&] { return !held_; });
                      return version_;
                  })
        .property("KExecCount",
                  [this] {
                      std::lock_guard lock(mutex_);
                      return kexec_count_;
                  })
        .property("PreviousShutdownStartTimestamp",
                  [this] {
                      std::lock_guard lock(mutex_);
                      return shutdown_start_usec_;
                  })
        .property("PreviousShutdownFinishTimestamp",
                  [this] {
                      std::lock_guard lock(mutex_);
                      return shutdown_finish_usec_;
                  })
        .method("StartUnit",
                [this](const std::string& unit, const std::string& mode) {
                    if (unit != "kexec.target")
                        throw luo::sdbus_compat::make_error("org.freedesktop.systemd1.NoSuchUnit",
                                                            "the stand-in only knows kexec.target");
                    {
                        std::unique_lock lock(mutex_);
                        requests_.push_back(mode);
                        requested_.notify_all();
                        released_.wait(lock, [&] { return !held_; });
                        if (refuse_)
                            throw luo::sdbus_compat::make_error("org.freedesktop.systemd1.TransactionIsDestructive",
                                                                "Transaction for kexec.target/start is destructive");
                    }
                    emit_job_new(1, unit);
                    return sdbus::ObjectPath("/org/freedesktop/systemd1/job/1");
                })
        .method("CancelJob",
                [this](std::uint32_t id) {
                    std::lock_guard lock(mutex_);
                    cancelled_.push_back(id);
                    requested_.notify_all();
                })
        .method("Subscribe", [] {})
        .signal<std::uint32_t, sdbus::ObjectPath, std::string>("JobNew")
        .signal<std::uint32_t, sdbus::ObjectPath, std::string, std::string>("JobRemoved")
        .finish();
    luo::sdbus_compat::request_name(*bus_, "org.freedesktop.systemd1");
    bus_->enterEventLoopAsync();
}

SystemdStandIn::~SystemdStandIn()
{
    hold_replies(false);  // a handler waiting for the release would keep the loop from ending
    bus_->leaveEventLoop();
    object_.reset();
}

std::vector<std::string> SystemdStandIn::lost() const
{
    std::lock_guard lock(mutex_);
    return lost_;
}

std::uint64_t SystemdStandIn::realtime_now_usec()
{
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000;
}

void SystemdStandIn::hold_replies(bool held)
{
    std::lock_guard lock(mutex_);
    held_ = held;
    released_.notify_all();
}

void SystemdStandIn::refuse_start(bool refuse)
{
    std::lock_guard lock(mutex_);
    refuse_ = refuse;
}

void SystemdStandIn::emit_job_new(std::uint32_t id, const std::string& unit)
{
    object_->emitSignal("JobNew")
        .onInterface("org.freedesktop.systemd1.Manager")
        .withArguments(id, sdbus::ObjectPath("/org/freedesktop/systemd1/job/" + std::to_string(id)), unit);
}

void SystemdStandIn::emit_job_removed(std::uint32_t id, const std::string& unit, const std::string& result)
{
    object_->emitSignal("JobRemoved")
        .onInterface("org.freedesktop.systemd1.Manager")
        .withArguments(id, sdbus::ObjectPath("/org/freedesktop/systemd1/job/" + std::to_string(id)), unit, result);
}

std::uint32_t SystemdStandIn::wait_for_cancel(std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    if (!requested_.wait_for(lock, limit, [&] { return !cancelled_.empty(); }))
        return 0;
    return cancelled_.front();
}

std::vector<std::uint32_t> SystemdStandIn::cancelled() const
{
    std::lock_guard lock(mutex_);
    return cancelled_;
}

bool SystemdStandIn::wait_for_version_request(std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    return requested_.wait_for(lock, limit, [&] { return version_requests_ > 0; });
}

std::string SystemdStandIn::wait_for_kexec_request(std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    if (!requested_.wait_for(lock, limit, [&] { return !requests_.empty(); }))
        return "";
    return requests_.front();
}

void SystemdStandIn::count_earlier_kexecs(std::uint32_t count)
{
    std::lock_guard lock(mutex_);
    kexec_count_ = count;
}

void SystemdStandIn::kexec(ModelProcess& model, LuodProcess& luod)
{
    // kexec.target stops the services; FileDescriptorStorePreserve= keeps luod's store.
    std::uint64_t shutdown_start = realtime_now_usec();
    luod.stop(SIGTERM);
    auto store = luod.notify().copy_store();
    // systemd-shutdown, at the very end (luo_preserve_fd_stores, 261 and later): sessions in
    // fd stores are named in systemd's own session, so PID 1 retrieves them again; every
    // other fd is preserved in it at tokens 1, 2, ... (a failure is logged "will be lost
    // across kexec", and the fd does not come back); the mapping is at token 0.
    nlohmann::json mapping = nlohmann::json::object();
    {
        Device dev = Device::open(model.root());
        Session own = dev.create_session("systemd");
        std::uint64_t token = 0;
        for (const auto& [fdname, fd] : store) {
            try {
                Session probe(dup_fd(fd.get()), SessionKind::outgoing);
                mapping[fdname] = {{"type", "luo_session"}, {"name", probe.get_name()}};
                continue;
            } catch (const Error&) {
            }
            try {
                own.preserve_fd(fd.get(), ++token);
                mapping[fdname] = {{"type", "fd"}, {"token", token}};
            } catch (const Error& e) {
                std::lock_guard lock(mutex_);
                lost_.push_back(fdname + ": " + e.what());
            }
        }
        UniqueFd memfd = make_memfd("systemd-luo-mapping", mapping.dump());
        own.preserve_fd(memfd.get(), 0);
        model.load_kernel("7.2");
        // Everything the service stored is still held here (this process is spared): the
        // kernel serializes it all at the reboot.
        std::string before = model.boot_id();
        ::sync();
        {
            // What the next boot's PID 1 restores from its LUO payload (262).
            std::lock_guard lock(mutex_);
            ++kexec_count_;
            shutdown_start_usec_ = shutdown_start;
            shutdown_finish_usec_ = realtime_now_usec();
        }
        Kexec(model.root()).reboot();
        model.wait_for_boot(before);
    }
    // The next boot's systemd: retrieve its session, then the service's sessions by name and
    // its other fds by token.
    std::vector<std::pair<std::string, UniqueFd>> carried;
    {
        Device dev = Device::open(model.root());
        Session own = dev.retrieve_session("systemd");
        auto mapping_back = nlohmann::json::parse(read_all(own.retrieve_fd(0).get()));
        for (const auto& [fdname, entry] : mapping_back.items()) {
            if (entry["type"] == "luo_session")
                carried.emplace_back(fdname, dev.retrieve_session(entry["name"].get<std::string>()).release());
            else
                carried.emplace_back(fdname, own.retrieve_fd(entry["token"].get<std::uint64_t>()));
        }
        own.finish();
    }
    luod.notify().replace_store(std::move(carried));
}

DbusFailure dbus_failure_of(const std::function<void()>& call)
{
    try {
        call();
        return {};
    } catch (const sdbus::Error& e) {
        return {e.getName(), e.getMessage()};
    }
}

std::string dbus_error_of(const std::function<void()>& call) { return dbus_failure_of(call).name; }

namespace {

uid_t uid_of(const char* user)
{
    passwd* pw = ::getpwnam(user);
    if (!pw)
        throw std::runtime_error(std::string("no user '") + user + "' on this system");
    return pw->pw_uid;
}

}  // namespace

uid_t nobody_uid() { return uid_of("nobody"); }
uid_t other_uid() { return uid_of("daemon"); }

int run_as_uid(uid_t uid, const std::function<int()>& body)
{
    passwd* pw = ::getpwuid(uid);
    gid_t gid = pw ? pw->pw_gid : uid;
    pid_t parent = ::getpid();
    return run_in_child([&] {
        if (::setgroups(0, nullptr) < 0 || ::setresgid(gid, gid, gid) < 0 || ::setresuid(uid, uid, uid) < 0)
            return 90;
        // It dies with the process waiting for it (set after setresuid, which clears it), also
        // when that one was killed before this line: a child left behind would keep ctest's
        // output pipe open and hang the test.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != parent)
            return 91;
        return body();
    });
}

}  // namespace luo::test
