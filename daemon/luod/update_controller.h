// SPDX-License-Identifier: Apache-2.0
// UpdateController: luod's update side (design.md §5) — kernel loading, the pre-flight
// checks, inhibitors and the readiness barrier, the strategies' reboot, the report, and
// after the kexec the unclaimed-session timeout. It also answers the Manager's state
// properties and follows the kernel's files for them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "event_loop.h"
#include "file_watch.h"
#include "luo/unique_fd.h"
#include "method_options.h"
#include "session_manager.h"

namespace sdbus {
class IConnection;
}

namespace luod {

struct CheckResult {
    std::string id;
    std::string verdict;  // "pass", "warn", "fail"
    std::string detail;
};

// What the controller tells the bus about.
class UpdateEvents {
public:
    virtual ~UpdateEvents() = default;
    virtual void prepare_for_update(bool start) = 0;
    virtual void update_failed(const std::string& reason) = 0;
    virtual void manager_properties_changed(const std::vector<std::string>& properties) = 0;
};

class UpdateController final : public SessionObserver {
public:
    UpdateController(EventLoop& loop, SessionManager& sessions, FdStore& fd_store);
    ~UpdateController() override;

    // Starts following the kernel files and, after a live update, finishes the report and
    // arms the unclaimed-session timer. `bus` is luod's connection (to reach systemd).
    void start(sdbus::IConnection& bus, UpdateEvents& events);

    [[nodiscard]] std::string state() const;
    [[nodiscard]] std::string kernel_state() const { return kernel_state_; }
    [[nodiscard]] bool kexec_loaded() const { return kexec_loaded_; }
    [[nodiscard]] std::uint64_t live_update_count() const { return sessions_.live_update_count(); }
    [[nodiscard]] std::string last_update_json() const { return sessions_.last_update().dump(); }

    luo::UniqueFd inhibit(const Caller& caller, const std::string& what, const std::string& who, const std::string& why,
                          const std::string& mode);
    void load_kernel(const Caller& caller, const std::string& kernel, const std::string& initrd,
                     const std::string& cmdline, bool reuse_cmdline, bool no_liveupdate_flags);
    void unload_kernel(const Caller& caller);
    std::vector<CheckResult> check();
    void update(const Caller& caller, const UpdateOptions& options);
    void cancel(const Caller& caller);
    SessionRecord& retrieve_session(const Caller& caller, const std::string& name);

    // SessionObserver: the state follows incoming sessions being finished.
    void session_added(const SessionRecord&) override { refresh(); }
    void session_removed(const std::string& name) override;
    void session_changed(const SessionRecord&, const std::vector<std::string>&) override {}

private:
    enum class Phase { none, preparing, rebooting };
    struct Inhibitor {
        std::string who, why, mode;
        uid_t uid = 0;
        pid_t pid = 0;
        luo::UniqueFd fifo;  // read end; HUP once every copy of the caller's end is closed
        EventSource watch;
    };

    void refresh();
    [[nodiscard]] std::string resolve_strategy(const std::string& requested) const;
    [[nodiscard]] bool systemd_can_carry_sessions() const;
    [[nodiscard]] std::size_t delay_inhibitors() const;
    void inhibitor_released(std::uint64_t id);
    void barrier_passed();
    void reboot();
    void fail_update(const std::string& result, const std::string& reason);
    [[nodiscard]] nlohmann::json report(const std::string& result, const std::string& reason) const;
    void finish_restore();
    void arm_unclaimed_timer(std::chrono::microseconds delay);

    EventLoop& loop_;
    SessionManager& sessions_;
    FdStore& fd_store_;
    sdbus::IConnection* bus_ = nullptr;
    UpdateEvents* events_ = nullptr;

    std::unique_ptr<FileWatch> state_watch_;
    std::unique_ptr<FileWatch> loaded_watch_;
    std::string kernel_state_;
    bool kexec_loaded_ = false;
    std::optional<std::string> loaded_cmdline_;  // when luod loaded the kernel itself
    std::string published_state_;

    std::map<std::uint64_t, Inhibitor> inhibitors_;
    std::uint64_t next_inhibitor_ = 1;

    Phase phase_ = Phase::none;
    UpdateOptions options_;
    std::string strategy_;
    nlohmann::json record_ = nlohmann::json::object();  // the update in flight
    EventSource barrier_timer_;
    EventSource unclaimed_timer_;
};

}  // namespace luod
