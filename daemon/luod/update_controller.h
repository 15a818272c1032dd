// SPDX-License-Identifier: Apache-2.0
// UpdateController: the live update's sequence (docs/architecture.md §4).
//
// DOC: an update's life
//
// Idle until a kernel is loaded (KernelLoader), then "loaded". Update runs the pre-flight
// checks (preflight.h), records the update in the state store, announces
// PrepareForUpdate(true) and waits for the delay inhibitors that may delay it (inhibitors.h:
// root's and carried sessions' owners', held when it starts), at most the delay timeout:
// "preparing". A timeout (unless forced) or Cancel fails it: the report says why, services
// hear PrepareForUpdate(false) and UpdateFailed, and nothing else changed. Once the barrier
// passes: "rebooting"; the record gains the reboot time and this boot's id, and the
// strategy (update_strategy.h) makes the kexec happen or says why not.
//
// After the kexec the next luod finds the record (the state store restored it) and
// finishes the report (blackout, phases), arms the timer that releases unclaimed sessions,
// and is "updated" until every incoming session is finished. A record found after a mere
// restart in the same boot means luod stopped mid-update: the update did not happen.
//
// It also answers the Manager's state properties and follows the kernel's files for them.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "device_access.h"
#include "event_loop.h"
#include "file_watch.h"
#include "inhibitors.h"
#include "kernel_loader.h"
#include "luo/unique_fd.h"
#include "method_options.h"
#include "preflight.h"
#include "session_registry.h"
#include "state_store.h"
#include "update_records.h"
#include "update_strategy.h"

namespace sdbus {
class IConnection;
}

namespace luod {

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
    // `started_usec`: when this luod started (the report's first_start after a kexec).
    UpdateController(EventLoop& loop, const Config& config, DeviceAccess& device, StateStore& store,
                     SessionRegistry& sessions, const FdStore& fd_store, std::uint64_t started_usec,
                     KillSpreeExemption exemption = KillSpreeExemption());
    ~UpdateController() override;

    // Starts following the kernel files and, after a live update, finishes the report and
    // arms the unclaimed-session timer. `bus` is luod's connection (to reach systemd).
    void start(sdbus::IConnection& bus, UpdateEvents& events);
    // luod holds its bus name: what start() had to tell the services goes out now.
    void serving();
    // Runs `task` once every session of the live update this boot restored is known by name:
    // at once when it is; else after luod has walked the manifest that came across, which it
    // does in the background, a bounded step per turn of the event loop, answering other
    // calls in between (issue 12). Calls that need the update's sessions wait so.
    void when_sessions_known(std::function<void()> task);
    // The same once the owners of the update's sessions not restored yet are known too: read
    // in the background, a bounded step per turn (SessionRegistry::glance_some()), so that a
    // listing of everyone's sessions does not hold the event loop for all of them at once.
    void when_owners_known(std::function<void()> task);
    // The D-Bus layer goes (before the bus): the calls waiting here for a walk or a kernel
    // load are dropped, unanswered, with it.
    void forget_waiting_calls();
    // systemd's manager as luod sees it (its version decides the auto strategy).
    [[nodiscard]] SystemdManager& systemd() { return strategies_.systemd(); }
    // An orderly kexec is under way (docs/systemd.md): luod must stay, holding its sessions,
    // even when the bus goes away, until the kernel's reboot ends it.
    [[nodiscard]] bool outliving_kexec() const { return strategies_.outliving_kexec(); }
    // luod is asked to stop (SIGTERM). If a kexec that luod did not start is what stops it
    // (systemd 252-260 without orderly-kexec.conf), luod does that kexec itself, holding its
    // sessions (direct); this returns only if it did not happen. False: just stop.
    bool kexec_instead_of_stopping();

    [[nodiscard]] luo::update::State state() const;
    [[nodiscard]] std::string kernel_state() const { return kernel_state_; }
    [[nodiscard]] bool kexec_loaded() const { return kexec_loaded_; }
    [[nodiscard]] const std::optional<std::string>& loaded_cmdline() const { return loader_.loaded_cmdline(); }
    [[nodiscard]] std::uint64_t live_update_count() const { return store_.live_update_count(); }
    // LastUpdate: the report of the last attempt, "{}" before any. Right after a live update,
    // until the background has read the owners of every session that came across, the report
    // so far: no session_outcomes yet (a property cannot wait, and reading them all in one
    // turn took longer than D-Bus waits at 100,000 sessions). PropertiesChanged follows.
    [[nodiscard]] std::string last_update_json() const;

    luo::UniqueFd inhibit(const Caller& caller, const std::string& what, const std::string& who, const std::string& why,
                          const std::string& mode);
    // The load itself runs off the loop (kexec_file_load can take seconds); `done` gets what
    // it threw, or nullptr. A load that cannot start throws here and `done` is not called.
    void load_kernel(const Caller& caller, const std::string& kernel, const std::string& initrd,
                     const std::string& cmdline, bool reuse_cmdline, bool no_liveupdate_flags,
                     std::function<void(std::exception_ptr)> done);
    void unload_kernel(const Caller& caller);
    // The pre-flight checks as `viewer` may see them (preflight.h).
    std::vector<CheckResult> check(const Caller& viewer);
    void update(const Caller& caller, const UpdateOptions& options);
    void cancel(const Caller& caller);
    // Who holds what (root only): ApiError(access_denied) for anyone else.
    std::vector<Inhibitors::Held> list_inhibitors(const Caller& caller) const;

    // SessionObserver: the state follows incoming sessions being finished.
    void session_added(const SessionRecord&) override { refresh(); }
    void session_removed(const SessionRecord& gone) override;
    // The report's session outcomes follow the incoming sessions: claimed, finished, released,
    // lost. A session closed while another process holds its fd is no longer luod's to finish.
    void session_changed(const SessionRecord& session, const std::vector<std::string>& properties) override;
    void session_ended(const SessionRecord& session, SessionEnd how, const std::string& reason) override;

private:
    // flushing: the update was accepted and sync(2) runs before the services are told
    // (PrepareForUpdate(true)); State says "preparing" for both.
    enum class Phase { none, flushing, preparing, rebooting };

    void refresh();
    // sync(2) on a thread of its own; flushed_before_barrier() follows on the loop.
    void flush_before_barrier();
    void kernel_loaded(const KernelImages& images);
    // Throws update_in_progress while a kernel load runs: `what` the caller may do after.
    void refuse_while_loading(const std::string& what);
    void flushed_before_barrier(std::uint64_t update);
    // PrepareForUpdate(true), the update record, and the wait for delay inhibitors.
    void start_barrier();
    void inhibitor_released();
    void barrier_passed();
    void barrier_timed_out(std::chrono::microseconds timeout);
    void reboot();
    // A kexec.target job someone else started (a plain `systemctl kexec`).
    void foreign_kexec_job(std::uint32_t id, const std::string& job);
    // Such a job ended: unless it kexecs, luod's manifest returns to the fd store and the
    // clients told of the update hear it is off.
    void foreign_kexec_job_ended(std::uint32_t id, const std::string& result);
    bool foreign_kexec_announced_ = false;
    // The update record of such a job, which luod did not start but its sessions cross by
    // (`strategy`): so that the next boot's luod reports it (started by "systemctl kexec").
    void record_foreign_kexec(Strategy strategy);
    bool foreign_kexec_recorded_ = false;
    // A kexec.target job someone else started will stop luod, which would lose its sessions.
    bool kexec_when_stopped_ = false;
    void fail_update(luo::update::Result result, const std::string& reason);
    [[nodiscard]] luo::update::UpdateReport report(luo::update::Result result, const std::string& reason) const;
    void finish_restore();
    // The report of a live update whose sessions were restored after luod was ready: every
    // session is restored first (now, if the background has not done it yet), then the report
    // is written with their outcomes so far.
    void complete_restore();
    // The same without restoring any session: the report lists those not restored yet as
    // restoring them will make them (SessionRegistry::list()).
    void complete_report();
    void write_restore_report();
    // No record came across: luod neither started this kexec nor saw it coming (it was not
    // running, or the kexec bypassed systemd). What crossed is counted from the outcomes.
    [[nodiscard]] bool update_unrecorded() const;
    // The restored update's report without its session outcomes.
    [[nodiscard]] luo::update::UpdateReport restore_report_head() const;
    // Restores a batch of the sessions left unrestored, and posts the next one.
    void restore_in_background();
    // A step of the walk of the manifest that came across, and the next one posted; once it is
    // walked, what waited for it runs and the restore follows.
    void walk_in_background();
    void post_walk();
    bool walk_posted_ = false;
    // The background restore's cost, for the debug log: its steps, their time, when it began.
    std::size_t restore_steps_ = 0, restore_sessions_ = 0;
    std::chrono::steady_clock::duration restore_work_{};
    std::chrono::nanoseconds restore_cpu_{};  // of those steps, on luod's CPU
    std::optional<std::chrono::steady_clock::time_point> restore_began_;
    bool walk_held_ = false, walk_hold_over_ = false;  // a test's LUOD_FAULT_HOLD=walk-step
    std::vector<std::function<void()>> when_walked_;
    void glance_in_background();
    bool glance_posted_ = false;
    std::size_t glance_steps_ = 0;
    std::chrono::steady_clock::duration glance_work_{};  // the time spent in its steps
    std::chrono::nanoseconds glance_cpu_{};              // of it, on luod's CPU
    std::vector<std::function<void()>> when_glanced_;
    // Puts what systemd says about the kexec into the report of the live update this boot
    // restored (once both are there), and logs when systemd's count disagrees.
    void fold_systemd_facts();
    bool restored_this_boot_ = false;
    void arm_unclaimed_timer(std::chrono::microseconds delay);
    // A step of the release of the sessions nobody claimed in time, and the next one posted.
    void release_unclaimed_step();
    std::size_t release_steps_ = 0, released_ = 0;
    // Records a session's outcome in the last report, if that report lists the session.
    void record_outcome(const std::string& name, luo::update::Outcome outcome, const std::string& reason);
    void schedule_report_write();
    void write_outcomes_now();

    EventLoop& loop_;
    const Config& config_;
    DeviceAccess& device_;
    StateStore& store_;
    SessionRegistry& sessions_;
    std::uint64_t started_usec_;
    UpdateEvents* events_ = nullptr;

    KernelLoader loader_;
    Inhibitors inhibitors_;
    UpdateStrategy strategies_;

    std::vector<std::function<void()>> when_serving_;
    std::unique_ptr<FileWatch> state_watch_;
    std::unique_ptr<FileWatch> loaded_watch_;
    std::string kernel_state_;
    bool kexec_loaded_ = false;
    std::optional<luo::update::State> published_state_;

    Phase phase_ = Phase::none;
    UpdateOptions options_;
    Strategy strategy_ = Strategy::direct;
    luo::update::UpdateRecord record_;  // the update in flight
    std::set<std::uint64_t> barrier_;  // the delay inhibitors this update waits for (inhibitors.h)
    EventSource barrier_timer_;
    EventSource unclaimed_timer_;
    EventSource report_write_timer_;  // active while the outcomes of claims and finishes wait to be written
    std::chrono::microseconds last_report_write_{0};
    uid_t requested_by_ = 0;
    std::uint64_t updates_started_ = 0;  // tells a sync finishing for a cancelled update
    EventSource presync_watch_;           // active while a sync(2) before the barrier runs
    EventSource kernel_load_;             // active while kexec_file_load(2) runs
    // The report is written once every session of the update is restored; until then, what
    // became of the sessions that ended meanwhile (claimed ones say so by their state).
    bool report_due_ = false;
    std::vector<luo::update::SessionOutcome> ended_before_report_;
};

}  // namespace luod
