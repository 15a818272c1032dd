// SPDX-License-Identifier: Apache-2.0
// Test harness for luod: a private system-like dbus-daemon (deny by default, 16 fds per
// message, luod's own policy file), a notify socket speaking systemd's protocol (READY=1,
// STATUS=, FDSTORE=1/FDNAME=, FDSTOREREMOVE=1) that keeps luod's fd store across restarts
// the way systemd does, and a luod process that can be stopped, killed and started again
// with LISTEN_FDS/LISTEN_FDNAMES.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "harness.h"
#include "luo/unique_fd.h"

namespace sdbus {
class IConnection;
class IProxy;
class IObject;
class Error;
}  // namespace sdbus

namespace luo::test {

class SystemBus {
public:
    SystemBus();
    ~SystemBus();
    SystemBus(const SystemBus&) = delete;
    SystemBus& operator=(const SystemBus&) = delete;
    [[nodiscard]] const std::string& address() const { return address_; }
    [[nodiscard]] pid_t pid() const { return pid_; }

private:
    TempDir dir_;
    pid_t pid_ = -1;
    std::string address_;
};

// systemd's side of sd_notify: the service's notify socket and its fd store. Like systemd,
// it handles each datagram as it arrives (on its own thread).
class NotifySocket {
public:
    NotifySocket();
    ~NotifySocket();
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    [[nodiscard]] std::string path() const { return (dir_.path() / "notify").native(); }
    // Waits until READY=1 arrives (since the last reset); false after `limit`.
    bool wait_ready(std::chrono::milliseconds limit);
    void reset_ready();
    // Waits until every datagram sent so far has been handled.
    void sync();
    [[nodiscard]] std::string status() const;
    // Waits until `count` WATCHDOG=1 pings arrived in all; false after `limit`.
    bool wait_watchdog(std::size_t count, std::chrono::milliseconds limit);
    [[nodiscard]] std::size_t stored(const std::string& name) const;
    // Copies of the stored fds, in the order they were added (what LISTEN_FDS passes back).
    [[nodiscard]] std::vector<std::pair<std::string, UniqueFd>> copy_store() const;
    // A new boot: the old store is gone (or replaced by what a service manager carried).
    void replace_store(std::vector<std::pair<std::string, UniqueFd>> store = {});

private:
    void run();
    void handle(const std::string& text, std::vector<UniqueFd> fds);

    TempDir dir_;
    UniqueFd sock_;
    UniqueFd stop_;  // eventfd
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool ready_ = false;
    std::size_t watchdog_pings_ = 0;
    std::uint64_t syncs_sent_ = 0;     // sync() probes, each with its number
    std::uint64_t syncs_handled_ = 0;  // the highest probe number handled
    std::string status_;
    std::vector<std::pair<std::string, UniqueFd>> store_;
    std::thread thread_;
};

struct LuodOptions {
    bool fd_store = true;           // run under the notify socket (like systemd)
    std::chrono::microseconds watchdog{0};  // WATCHDOG_USEC, as WatchdogSec= sets it
    std::vector<std::string> env;           // extra environment, e.g. LUOD_FAULT=<point>
    std::string config;             // luod.conf contents
    std::vector<std::string> extra_args;
};

// luod serving `model` on `bus`.
class LuodProcess {
public:
    LuodProcess(const ModelProcess& model, const SystemBus& bus, LuodOptions options = {});
    ~LuodProcess();
    LuodProcess(const LuodProcess&) = delete;
    LuodProcess& operator=(const LuodProcess&) = delete;

    // Starts luod (again) with the fd store's contents, and waits until it is ready. With
    // `expect_ready` false it only starts it (for a start that is meant to die).
    void start(bool expect_ready = true);
    [[nodiscard]] LuodOptions& options() { return options_; }
    // SIGTERM (clean) or SIGKILL; waits for the exit and returns its status (128+sig if killed).
    int stop(int signal = SIGTERM);
    // Waits for luod to exit on its own (e.g. ended by a kexec); returns its status.
    int wait_exit();
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool alive() const;
    [[nodiscard]] std::size_t fd_count() const { return count_fds(pid_); }
    [[nodiscard]] std::string log() const;
    [[nodiscard]] NotifySocket& notify() { return notify_; }

private:
    const ModelProcess& model_;
    const SystemBus& bus_;
    LuodOptions options_;
    TempDir dir_;
    NotifySocket notify_;
    pid_t pid_ = -1;
};

// A client of luod on the test bus (sdbus-c++ convenience API).
class LuodClient {
public:
    explicit LuodClient(const std::string& bus_address);
    ~LuodClient();

    std::string create_session(const std::string& name);
    std::string get_session(const std::string& name);
    std::vector<std::string> list_session_names();
    std::uint64_t preserve(const std::string& name, int fd, const std::string& label);
    std::vector<std::uint64_t> preserve(const std::string& name, const std::vector<std::pair<int, std::string>>& files);
    UniqueFd acquire_fd(const std::string& name);
    UniqueFd retrieve_fd(const std::string& name, const std::string& label);
    void finish(const std::string& name);
    void close(const std::string& name);
    // (label, token, type) of a session's files.
    std::vector<std::tuple<std::string, std::uint64_t, std::string>> files(const std::string& name);
    std::string session_property_string(const std::string& name, const std::string& property);
    std::uint32_t manager_u32(const std::string& property);
    std::string manager_string(const std::string& property);
    // LastUpdate once it is whole: right after a live update (phases.restore_ready) luod
    // answers with the report so far, without session_outcomes, until it has read every
    // session's owner in the background.
    std::string last_update();
    // Any other call: member of the Manager interface with no arguments and no result.
    void call_manager(const std::string& member);
    // LoadKernel(path) with no initrd, command line or options.
    void load_kernel(const std::string& path);

    sdbus::IConnection& connection() { return *bus_; }
    sdbus::IProxy& manager();

private:
    std::unique_ptr<sdbus::IProxy> session(const std::string& name);

    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IProxy> manager_;
};

// Records luod's PrepareForUpdate and UpdateFailed signals on its own connection.
class SignalRecorder {
public:
    explicit SignalRecorder(const std::string& bus_address);
    ~SignalRecorder();
    // Events so far: "prepare true", "prepare false", "failed <reason>".
    [[nodiscard]] std::vector<std::string> events() const;
    // Waits until an event starting with `prefix` was recorded; false after `limit`.
    bool wait_for(const std::string& prefix, std::chrono::milliseconds limit = std::chrono::seconds(60));

private:
    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IProxy> proxy_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> events_;
};

// A stand-in for systemd >= 261 on the test bus, doing only the documented parts luod uses:
// Manager.Version, Manager.StartUnit("kexec.target", ...), and carrying a service's fd
// store across the kexec as systemd does: at shutdown it stops the service, records which
// stored fds are LUO sessions in its own "systemd" session, and calls reboot(2); in the
// next boot it retrieves those sessions by name and gives them back with LISTEN_FDS.
class SystemdStandIn {
public:
    // With `held`, it comes up already holding its replies (see hold_replies). With
    // `job_before_version`, it announces that kexec.target job (JobNew) when first asked for
    // its version, just before it answers: as a systemd that re-executed while an operator's
    // `systemctl kexec` was queued. (Signals must come from its own thread: emitting while a
    // held reply blocks that thread would deadlock.)
    SystemdStandIn(const std::string& bus_address, std::string version = "261", bool held = false,
                   std::uint32_t job_before_version = 0);
    ~SystemdStandIn();
    // Waits until someone has asked for the Version property (`limit` at most); true if so.
    bool wait_for_version_request(std::chrono::milliseconds limit = std::chrono::seconds(60));
    // Waits for luod to ask for kexec.target; returns the job mode it asked with.
    std::string wait_for_kexec_request(std::chrono::milliseconds limit = std::chrono::seconds(60));
    // A PID 1 that is slow to answer: while held, the Version property and StartUnit wait
    // (StartUnit is recorded first, so wait_for_kexec_request sees it).
    void hold_replies(bool held);
    // StartUnit fails as systemd's does when a transaction cannot be built.
    void refuse_start(bool refuse);
    // Job signals as systemd sends them: JobNew for a job someone started (e.g. a plain
    // `systemctl kexec`), JobRemoved with its result. StartUnit announces its job 1 itself.
    void emit_job_new(std::uint32_t id, const std::string& unit);
    void emit_job_removed(std::uint32_t id, const std::string& unit, const std::string& result);
    // Waits for a CancelJob call; returns the job id, or 0 after `limit`.
    std::uint32_t wait_for_cancel(std::chrono::milliseconds limit = std::chrono::seconds(60));
    [[nodiscard]] std::vector<std::uint32_t> cancelled() const;
    // What systemd does from there: stop the service, hand its LUO sessions to the next
    // kernel, kexec, and restore the store for the service's next start.
    void kexec(ModelProcess& model, LuodProcess& luod);
    // KExecCount starts at `count`: kexecs since the last cold boot that nothing here saw
    // (before luod was installed, or while it was not running).
    void count_earlier_kexecs(std::uint32_t count);
    // The fds of the store that kexec() could not preserve ("will be lost across kexec"):
    // "FDNAME: error" each.
    [[nodiscard]] std::vector<std::string> lost() const;

private:
    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IObject> object_;
    std::string version_;
    mutable std::mutex mutex_;
    std::condition_variable requested_;
    std::vector<std::string> requests_;
    unsigned version_requests_ = 0;
    bool held_ = false;
    bool refuse_ = false;
    std::uint32_t job_before_version_ = 0;
    // KExecCount and PreviousShutdown{Start,Finish}Timestamp (262), counted by kexec().
    std::uint32_t kexec_count_ = 0;
    std::uint64_t shutdown_start_usec_ = 0;
    std::uint64_t shutdown_finish_usec_ = 0;
    std::vector<std::string> lost_;
    static std::uint64_t realtime_now_usec();
    std::condition_variable released_;
    std::vector<std::uint32_t> cancelled_;
};

// The D-Bus error a call fails with; empty names when it succeeds.
struct DbusFailure {
    std::string name;
    std::string message;
};
DbusFailure dbus_failure_of(const std::function<void()>& call);
// The D-Bus error name a call fails with, or "" when it succeeds.
std::string dbus_error_of(const std::function<void()>& call);

// Non-root users for access tests. The system bus only admits uids with a passwd entry,
// so these are accounts every Debian system has: "nobody", and "daemon" as a second owner.
uid_t nobody_uid();
uid_t other_uid();
// Runs `body` in a child with that uid (and its primary gid, no supplementary groups);
// returns its exit status.
int run_as_uid(uid_t uid, const std::function<int()>& body);
inline int run_as_nobody(const std::function<int()>& body) { return run_as_uid(nobody_uid(), body); }

}  // namespace luo::test
