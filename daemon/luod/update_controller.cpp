// SPDX-License-Identifier: Apache-2.0
#include "update_controller.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "api_error.h"
#include "polkit_actions.h"
#include "clock.h"
#include "durations.h"
#include "fault.h"
#include "kernel_files.h"
#include "log.h"
#include "message_ids.h"
#include "luo/paths.h"
#include "names.h"
#include "off_loop_call.h"

namespace luod {

namespace {

using ReportPhase = luo::update::Phase;
using luo::update::State;
using luo::update::Result;
using luo::update::UpdateRecord;
using luo::update::UpdateReport;

// Records what an update did, from the event loop, where nobody could be told of a failure:
// the manifest keeps a reserve for these, so this fails only when writing it fails, and then
// the update still returns to a state it can leave.
bool record_or_log(const char* what, const std::function<void()>& write)
{
    try {
        write();
        return true;
    } catch (const std::exception& e) {
        spdlog::error("recording {} failed: {}", what, e.what());
        return false;
    }
}

}  // namespace

UpdateController::UpdateController(EventLoop& loop, const Config& config, DeviceAccess& device, StateStore& store,
                                   SessionRegistry& sessions, const FdStore& fd_store, std::uint64_t started_usec,
                                   KillSpreeExemption exemption)
    : loop_(loop),
      config_(config),
      device_(device),
      store_(store),
      sessions_(sessions),
      started_usec_(started_usec),
      loader_(device.root()),
      inhibitors_(loop, config, [this] { inhibitor_released(); }),
      strategies_(loop, device, fd_store, exemption)
{
}

UpdateController::~UpdateController()
{
    sessions_.remove_observer(this);
    write_outcomes_now();  // a claim or finish not yet written (schedule_report_write())
}

void UpdateController::start(sdbus::IConnection& bus, UpdateEvents& events)
{
    (void)bus;
    strategies_.systemd().on_foreign_kexec_job(
        [this](std::uint32_t id, const std::string& job) { foreign_kexec_job(id, job); });
    strategies_.systemd().on_foreign_kexec_job_end(
        [this](std::uint32_t id, const std::string& result) { foreign_kexec_job_ended(id, result); });
    strategies_.systemd().on_kexec_facts([this] { fold_systemd_facts(); });
    strategies_.start();
    events_ = &events;
    sessions_.add_observer(this);
    luo::KernelPaths paths(device_.root());
    state_watch_ = std::make_unique<FileWatch>(loop_, paths.liveupdate_state(), [this] { refresh(); });
    loaded_watch_ = std::make_unique<FileWatch>(loop_, paths.kexec_loaded(), [this] { refresh(); });
    refresh();
    const std::optional<UpdateRecord>& in_flight = store_.update_record();
    bool rebooted_since = in_flight && !in_flight->boot_id.empty() && in_flight->boot_id != store_.boot_id();
    if (store_.restored_from_update() || rebooted_since) {
        finish_restore();
    } else if (in_flight) {
        // luod stopped in the middle of an update it started in this boot: it did not
        // happen. Services that quiesced hear so once luod has its name on the bus again
        // (serving()): signals sent before that reach no one who matches on the name.
        record_ = *in_flight;
        record_or_log("the update's report", [&] {
            store_.set_last_update(report(Result::failed, "luod stopped during the update; it did not happen"));
        });
        record_or_log("the end of the update", [&] { store_.set_update_record(std::nullopt); });
        record_ = UpdateRecord();
        spdlog::warn("the update in progress when luod stopped did not happen; every session is intact");
        when_serving_.push_back([this] {
            events_->prepare_for_update(false);
            events_->update_failed("luod stopped during the update; it did not happen");
        });
    } else if (sessions_.has_incoming()) {
        // A restart while sessions of the last update are still out: the unclaimed ones are
        // released when their time is up, counted from the restore.
        const std::optional<UpdateReport>& last = store_.last_update();
        std::optional<std::uint64_t> restored = last ? last->phases.get(ReportPhase::restore_ready) : std::nullopt;
        auto ready = std::chrono::microseconds(restored.value_or(realtime_usec()));
        auto due = ready + std::chrono::duration_cast<std::chrono::microseconds>(config_.unclaimed_timeout);
        auto left = due - std::chrono::microseconds(realtime_usec());
        arm_unclaimed_timer(std::max(left, std::chrono::microseconds(0)));
    }
}

void UpdateController::serving()
{
    if (sessions_.restore_pending())
        post_walk();  // then the restore
    std::vector<std::function<void()>> tasks;
    tasks.swap(when_serving_);
    for (auto& task : tasks)
        task();
}

void UpdateController::when_sessions_known(std::function<void()> task)
{
    if (!sessions_.walk_pending()) {
        task();
        return;
    }
    when_walked_.push_back(std::move(task));
    walk_hold_over_ = walk_hold_over_ || walk_held_;
    walk_held_ = false;
    post_walk();
}

void UpdateController::when_owners_known(std::function<void()> task)
{
    when_sessions_known([this, task = std::move(task)]() mutable {
        if (sessions_.glance_some(0)) {
            task();
            return;
        }
        when_glanced_.push_back(std::move(task));
        if (!glance_posted_) {
            glance_posted_ = true;
            loop_.post_background([this] { glance_in_background(); });
        }
    });
}

void UpdateController::glance_in_background()
{
    // A few ms of work per step on a busy machine (each session's entries read and replayed).
    static const std::size_t kGlanceStep = tuned_for_tests("LUOD_GLANCE_STEP", 256);
    glance_posted_ = false;
    ++glance_steps_;
    auto began = std::chrono::steady_clock::now();
    auto cpu_began = thread_cpu_time();
    bool done = sessions_.glance_some(kGlanceStep);
    glance_work_ += std::chrono::steady_clock::now() - began;
    glance_cpu_ += thread_cpu_time() - cpu_began;
    if (!done) {
        glance_posted_ = true;
        loop_.post_background([this] { glance_in_background(); });
        return;
    }
    spdlog::debug("read the owners of the update's sessions not restored yet in {} steps, {} us of work, {} us on "
                  "the CPU",
                  glance_steps_, std::chrono::duration_cast<std::chrono::microseconds>(glance_work_).count(),
                  std::chrono::duration_cast<std::chrono::microseconds>(glance_cpu_).count());
    std::vector<std::function<void()>> tasks;
    tasks.swap(when_glanced_);
    for (auto& task : tasks)
        task();
}

void UpdateController::forget_waiting_calls()
{
    when_walked_.clear();
    when_glanced_.clear();
    kernel_load_ = EventSource();
}

void UpdateController::post_walk()
{
    if (walk_posted_)
        return;
    walk_posted_ = true;
    loop_.post_background([this] { walk_in_background(); });
}

void UpdateController::walk_in_background()
{
    // About 2 ms of work per step on a busy machine (5,000 sessions' log: some 25,000 entries).
    static const std::size_t kWalkStep = tuned_for_tests("LUOD_WALK_STEP", 1024);
    walk_posted_ = false;
    if (!walk_hold_over_ && fault_hold("walk-spin")) {
        // A test's busy event loop: the walk posts itself again, without a step, until a call
        // needs it (calls that do not are answered meanwhile).
        if (!walk_held_)
            spdlog::warn("fault point 'walk-spin': the walk spins until a call needs it");
        walk_held_ = true;
        post_walk();
        return;
    }
    if (!sessions_.walk_some(kWalkStep)) {
        fault_point("walk-step");
        if (!walk_hold_over_ && fault_hold("walk-step")) {
            walk_held_ = true;
            spdlog::warn("fault point 'walk-step': the walk waits for a call that needs it");
            return;
        }
        post_walk();
        return;
    }
    std::vector<std::function<void()>> tasks;
    tasks.swap(when_walked_);
    for (auto& task : tasks)
        task();
    restore_in_background();
}

void UpdateController::restore_in_background()
{
    // Small batches, each its own turn of the event loop: callers are answered in between.
    constexpr std::size_t kBatch = 64;
    if (fault_hold("restore-batch")) {
        // A test sees which calls restore sessions themselves: none does in the background.
        spdlog::warn("fault point 'restore-batch': the background restore does not start");
        return;
    }
    auto began = std::chrono::steady_clock::now();
    if (!restore_began_)
        restore_began_ = began;
    auto cpu_began = thread_cpu_time();
    std::size_t before = sessions_.unrestored();
    std::size_t left = sessions_.restore_some(kBatch);
    restore_work_ += std::chrono::steady_clock::now() - began;
    restore_cpu_ += thread_cpu_time() - cpu_began;
    restore_sessions_ += before > left ? before - left : 0;
    ++restore_steps_;
    if (left > 0) {
        loop_.post_background([this] { restore_in_background(); });
        return;
    }
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    spdlog::debug("restored {} sessions of the update in the background: {} us of work in {} steps over {} us, {} "
                  "us on the CPU",
                  restore_sessions_, duration_cast<microseconds>(restore_work_).count(), restore_steps_,
                  duration_cast<microseconds>(std::chrono::steady_clock::now() - *restore_began_).count(),
                  duration_cast<microseconds>(restore_cpu_).count());
    complete_restore();
}

void UpdateController::arm_unclaimed_timer(std::chrono::microseconds delay)
{
    if (config_.unclaimed_timeout.count() == 0)
        return;
    unclaimed_timer_ = loop_.add_timer(delay, [this] { loop_.post([this] { release_unclaimed_step(); }); });
}

void UpdateController::release_unclaimed_step()
{
    // A step a turn, at idle priority after the first: calls are answered between them.
    static const std::size_t kReleaseStep = tuned_for_tests("LUOD_RELEASE_STEP", 64);
    SessionRegistry::Released step = sessions_.release_unclaimed(kReleaseStep);
    ++release_steps_;
    released_ += step.released;
    if (!step.done) {
        loop_.post_background([this] { release_unclaimed_step(); });
        return;
    }
    if (released_ > 0)
        spdlog::warn("{} sessions were not claimed within {} s of the update and were released", released_,
                     config_.unclaimed_timeout.count());
    spdlog::debug("released the sessions nobody claimed in {} steps", release_steps_);
    released_ = 0;
    release_steps_ = 0;
}

State UpdateController::state() const
{
    if (phase_ == Phase::preparing || phase_ == Phase::flushing)
        return State::preparing;
    if (phase_ == Phase::rebooting)
        return State::rebooting;
    if (sessions_.has_incoming())
        return State::updated;
    return kexec_loaded_ ? State::loaded : State::idle;
}

void UpdateController::refresh()
{
    luo::KernelPaths paths(device_.root());
    std::vector<std::string> changed;
    std::string ks = first_line(paths.liveupdate_state());
    if (ks != kernel_state_) {
        kernel_state_ = ks;
        changed.emplace_back("KernelState");
    }
    bool loaded = first_line(paths.kexec_loaded()) == "1";
    if (loaded != kexec_loaded_) {
        kexec_loaded_ = loaded;
        if (!loaded)
            loader_.forget();
        changed.emplace_back("KexecLoaded");
        changed.emplace_back("LoadedCmdline");
        spdlog::info("a kernel is {} loaded", loaded ? "now" : "no longer");
    }
    State st = state();
    if (st != published_state_) {
        if (published_state_)
            spdlog::info("state: {} -> {}", to_string(*published_state_), to_string(st));
        published_state_ = st;
        changed.emplace_back("State");
    }
    if (!changed.empty() && events_)
        events_->manager_properties_changed(changed);
}

// ---- inhibitors ----

luo::UniqueFd UpdateController::inhibit(const Caller& caller, const std::string& what, const std::string& who,
                                        const std::string& why, const std::string& mode)
{
    return inhibitors_.take(caller, what, who, why, mode);
}

void UpdateController::inhibitor_released()
{
    if (phase_ != Phase::preparing || barrier_.empty())
        return;
    barrier_ = inhibitors_.still_held(barrier_);
    if (barrier_.empty())
        barrier_passed();
}

// ---- kernel loading ----

void UpdateController::load_kernel(const Caller& caller, const std::string& kernel, const std::string& initrd,
                                   const std::string& cmdline, bool reuse_cmdline, bool no_liveupdate_flags,
                                   std::function<void(std::exception_ptr)> done)
{
    if (!caller.may_administer())
        fail(ErrorKind::access_denied, not_allowed("load a kernel", polkit_action::kLoadKernel));
    if (phase_ != Phase::none)
        fail(ErrorKind::update_in_progress, "an update is in progress");
    refuse_while_loading("load another");
    auto images = std::make_shared<KernelImages>(
        loader_.prepare(kernel, initrd, cmdline, reuse_cmdline, no_liveupdate_flags));
    kernel_load_ = call_off_loop(loop_, [images] { KernelLoader::load(*images); },
                                 [this, images, done = std::move(done)](std::exception_ptr error) {
                                     kernel_load_ = EventSource();
                                     if (!error)
                                         kernel_loaded(*images);
                                     done(error);
                                 });
}

void UpdateController::kernel_loaded(const KernelImages& images)
{
    loader_.loaded(images);
    if (events_)
        events_->manager_properties_changed({"LoadedCmdline"});
    refresh();
    kexec_loaded_ = true;  // whatever the file says a moment later
    refresh();
}

void UpdateController::refuse_while_loading(const std::string& what)
{
    if (kernel_load_.active())
        fail(ErrorKind::update_in_progress,
             "a kernel is being loaded (kexec_file_load has not returned yet); " + what + " once it has");
}

void UpdateController::unload_kernel(const Caller& caller)
{
    if (!caller.may_administer())
        fail(ErrorKind::access_denied, not_allowed("unload the kernel", polkit_action::kLoadKernel));
    if (phase_ != Phase::none)
        fail(ErrorKind::update_in_progress, "an update is in progress");
    refuse_while_loading("unload it");
    loader_.unload();
    refresh();
}

// ---- checks ----

std::vector<CheckResult> UpdateController::check(const Caller& viewer)
{
    complete_restore();
    // Closed sessions whose last fd is gone no longer take the kernel's sessions.
    sessions_.reap_closed();
    UpdateFacts facts{device_, sessions_, inhibitors_, kexec_loaded_, loader_.loaded_cmdline(),
                      [this] { return strategies_.resolve(config_.strategy); }, viewer};
    return preflight_checks(facts);
}

// ---- the update ----

void UpdateController::update(const Caller& caller, const UpdateOptions& options)
{
    complete_restore();
    if (!caller.may_administer())
        fail(ErrorKind::access_denied, not_allowed("start an update", polkit_action::kUpdate));
    if (phase_ != Phase::none)
        fail(ErrorKind::update_in_progress, "an update is " + std::string(to_string(state())));
    // A dry run does no sync(2) nor reboot: a cancelled update's sync still running is no
    // reason to refuse it.
    if (presync_watch_.active() && !options.dry_run)
        fail(ErrorKind::update_in_progress,
             "the sync(2) of a cancelled update has not returned yet (a file system is slow to write back); "
             "try again once it has");
    refuse_while_loading("start the update");
    if (!kexec_loaded_)
        fail(ErrorKind::not_loaded, "no kernel is loaded: load one first");
    Strategy strategy = strategies_.resolve(options.strategy.empty() ? config_.strategy : options.strategy);
    std::vector<std::string> failed, blockers;
    for (const CheckResult& r : check(caller)) {
        if (r.verdict != Verdict::fail || r.id == CheckId::strategy)
            continue;
        (r.id == CheckId::inhibitors ? blockers : failed).push_back(std::string(to_string(r.id)) + ": " + r.detail);
    }
    if (!failed.empty() && !options.force)
        fail(ErrorKind::checks_failed, "pre-flight checks failed: " + join_bounded(failed, "; "));
    if (!blockers.empty() && !options.force)
        fail(ErrorKind::blocked_by_inhibitor, join_bounded(blockers, "; "));
    if (!blockers.empty())
        spdlog::warn("update forced by uid {} past {}", caller.uid, join_bounded(blockers, "; "));

    options_ = options;
    strategy_ = strategy;
    requested_by_ = caller.uid;
    record_ = UpdateRecord();
    record_.strategy = std::string(to_string(strategy));
    record_.started_by = std::string(luo::update::kStartedByLuod);
    record_.dry_run = options.dry_run;
    record_.from_release = first_line(luo::KernelPaths(device_.root()).os_release());
    phase_ = Phase::flushing;
    if (options.dry_run) {
        start_barrier();
        return;
    }
    // sync(2) while the services still run, off luod's thread: the one right before
    // reboot(2), in the blackout, then writes only what changed since (issue 12).
    refresh();
    flush_before_barrier();
}

void UpdateController::flush_before_barrier()
{
    std::uint64_t update = ++updates_started_;
    try {
        // A cancelled update's sync still running keeps the next update from starting (update()).
        presync_watch_ = call_off_loop(
            loop_,
            [] {
                fault_point("presync");
                ::sync();
            },
            [this, update](std::exception_ptr) { flushed_before_barrier(update); });
    } catch (const std::exception& e) {
        spdlog::warn("no thread for the sync before the barrier ({}): the sync comes with the reboot", e.what());
        start_barrier();
    }
}

void UpdateController::flushed_before_barrier(std::uint64_t update)
{
    if (update != updates_started_)
        return;  // an earlier update's (cancelled)
    presync_watch_ = EventSource();
    if (phase_ != Phase::flushing)
        return;  // cancelled meanwhile
    start_barrier();
}

void UpdateController::start_barrier()
{
    // The update starts for the services here: PrepareForUpdate(true). What the kernel is
    // handed is counted again at the reboot.
    record_.sessions = sessions_.outgoing_count();
    record_.files = sessions_.file_count();
    // The barrier is fixed now: inhibitors taken later, or by uids with nothing to carry,
    // cannot delay this update (inhibitors.h).
    barrier_ = inhibitors_.barrier(Inhibitors::may_delay(sessions_.sessions()));
    record_.phases.set(ReportPhase::update_requested, realtime_usec());
    if (!record_or_log("the update record", [&] { store_.set_update_record(record_); })) {
        fail_update(Result::failed, "the update record could not be written");
        return;
    }
    phase_ = Phase::preparing;
    refresh();
    const UpdateOptions& options = options_;
    Strategy strategy = strategy_;
    log::Fields f{{"LUO_STRATEGY", std::string(to_string(strategy))},
                  {"MESSAGE_ID", std::string(message_id::kUpdateRequested)}};
    spdlog::info("{}update requested by uid {} ({} strategy): waiting for {} delay inhibitors",
                 options.dry_run ? "dry-run " : "", requested_by_, to_string(strategy), barrier_.size());
    std::vector<std::string> ignored = inhibitors_.describe(barrier_, true);
    if (!ignored.empty())
        spdlog::info("not waiting for delay inhibitors of uids with no session to carry: {}",
                     join_bounded(ignored, ", "));
    if (events_)
        events_->prepare_for_update(true);
    fault_point("barrier");
    if (barrier_.empty()) {
        loop_.post([this] { barrier_passed(); });
    } else {
        auto timeout = options.delay_timeout.value_or(
            std::chrono::duration_cast<std::chrono::microseconds>(config_.delay_timeout));
        barrier_timer_ = loop_.add_timer(timeout, [this, timeout] {
            loop_.post([this, timeout] { barrier_timed_out(timeout); });
        });
    }
}

void UpdateController::barrier_timed_out(std::chrono::microseconds timeout)
{
    if (phase_ != Phase::preparing)
        return;
    barrier_ = inhibitors_.still_held(barrier_);
    std::string holders = join_bounded(inhibitors_.describe(barrier_), ", ");
    std::string waited = luo::update::seconds_text(static_cast<std::uint64_t>(timeout.count()));
    if (!options_.force) {
        fail_update(Result::failed, "the readiness barrier timed out after " + waited + "; still held by " + holders);
        return;
    }
    log::Fields f{{"LUO_INHIBITORS", holders}};
    spdlog::warn("forced update: not waiting any longer than {} for delay inhibitors still held by {}", waited,
                 holders);
    barrier_.clear();
    barrier_passed();
}

void UpdateController::barrier_passed()
{
    if (phase_ != Phase::preparing)
        return;
    barrier_.clear();
    record_.phases.set(ReportPhase::barrier_passed, realtime_usec());
    {
        log::Fields f{{"MESSAGE_ID", std::string(message_id::kBarrierPassed)}};
        spdlog::info("the readiness barrier passed{}", options_.dry_run ? " (dry run)" : ": rebooting");
    }
    if (options_.dry_run) {
        if (events_)
            events_->prepare_for_update(false);
        phase_ = Phase::none;
        record_or_log("the dry run's report", [&] { store_.set_last_update(report(Result::dry_run, "")); });
        record_or_log("the end of the dry run", [&] { store_.set_update_record(std::nullopt); });
        record_ = UpdateRecord();
        spdlog::info("dry run complete: the checks passed and every delay inhibitor was released");
        if (events_)
            events_->manager_properties_changed({"LastUpdate"});
        loop_.post([this] { barrier_timer_ = EventSource(); });
        refresh();
        return;
    }
    phase_ = Phase::rebooting;
    refresh();
    loop_.post([this] {
        barrier_timer_ = EventSource();
        reboot();
    });
}

void UpdateController::reboot()
{
    record_.phases.set(ReportPhase::reboot_called, realtime_usec());
    // What the kernel is handed is what exists now: sessions made, closed or filled during
    // the barrier count, those of the request do not. Counted as records change (the usage
    // ledger), not by a walk over every session in the blackout (issue 12).
    record_.sessions = sessions_.outgoing_count();
    record_.files = sessions_.outgoing_file_count();
    record_.boot_id = store_.boot_id();  // the next luod tells a reboot from a restart by it
    // The manifest now holds all the next kernel's luod needs to finish the report: one small
    // entry appended to its log, whatever the number of sessions.
    if (!record_or_log("the update record before the reboot", [&] { store_.set_update_record(record_); })) {
        fail_update(Result::failed, "the update record could not be written; the reboot was not attempted");
        return;
    }
    {
        log::Fields f{{"MESSAGE_ID", std::string(message_id::kRebootCalled)}};
        spdlog::info("calling the reboot: {} sessions with {} files go to the next kernel", record_.sessions,
                     record_.files);
    }
    fault_point("before-reboot");
    if (strategy_ == Strategy::systemd) {
        store_.withhold_manifest_from_fd_store();
        strategies_.reboot_through_systemd([this](const std::string& why) {
            store_.return_manifest_to_fd_store();
            if (phase_ == Phase::rebooting)
                fail_update(Result::failed, why);
        });
        return;
    }
    if (strategy_ == Strategy::orderly) {
        strategies_.reboot_orderly([this](const std::string& why) {
            if (phase_ == Phase::rebooting)
                fail_update(Result::failed, why);
        });
        return;
    }
    if (std::optional<std::string> failure = strategies_.reboot_direct(sessions_.outgoing_count()))
        fail_update(Result::failed, *failure);
}

std::vector<Inhibitors::Held> UpdateController::list_inhibitors(const Caller& caller) const
{
    if (!caller.may_administer())
        fail(ErrorKind::access_denied, not_allowed("list the inhibitors (who holds them and why is private)",
                                                   polkit_action::kListInhibitors));
    return inhibitors_.list();
}

void UpdateController::foreign_kexec_job(std::uint32_t id, const std::string& job)
{
    if (phase_ == Phase::rebooting)
        return;  // luod's own kexec is under way: this one changes nothing
    // Not luod's update: what matters is how luod's sessions can outlive this kexec, whatever
    // strategy luod.conf picks for luod's own updates.
    Strategy strategy = Strategy::direct;
    try {
        strategy = strategies_.resolve("auto");
    } catch (const ApiError&) {
    }
    std::size_t sessions = sessions_.outgoing_count();
    log::Fields f{{"LUO_SYSTEMD_JOB", job}};
    if (strategy == Strategy::systemd) {
        // Nothing is lost: systemd carries luod's fd store. luod cannot hold systemd's job
        // for its barrier, so its clients hear of the update now, and the report says how
        // it came about.
        spdlog::warn("kexec.target was started outside luod (job {}): systemd carries luod's {} sessions in its fd "
                     "store; clients are told now, without luod's barrier (use luoctl update for one)",
                     id, sessions);
        record_foreign_kexec(strategy);
        store_.withhold_manifest_from_fd_store();
        if (events_ && phase_ == Phase::none) {
            events_->prepare_for_update(true);
            foreign_kexec_announced_ = true;
        }
        return;
    }
    if (strategy == Strategy::orderly) {
        // systemd stops the services but not luod, which stays through systemd-shutdown
        // with its sessions. As on >= 261 there is no barrier: the clients hear of it now.
        spdlog::warn("kexec.target was started outside luod (job {}): luod stays through it holding its {} sessions "
                     "(orderly, {}); clients are told now, without luod's barrier (use luoctl update for one)",
                     id, sessions, strategies_.systemd().describe());
        strategies_.outlive_kexec();
        record_foreign_kexec(strategy);
        // Should the kexec stop luod after all (its unit changed since luod asked), luod does
        // it itself rather than lose the sessions.
        kexec_when_stopped_ = true;
        if (events_ && phase_ == Phase::none) {
            events_->prepare_for_update(true);
            foreign_kexec_announced_ = true;
        }
        return;
    }
    kexec_when_stopped_ = true;
    if (sessions == 0) {
        spdlog::info("kexec.target was started outside luod (job {}): luod has no sessions to lose", id);
        return;
    }
    // This systemd cannot carry sessions and its kexec stops luod (no orderly-kexec.conf):
    // stopping would lose every session. Cancelling the job does not help (the rest of the
    // transaction goes on, seen on 252), so when the kexec stops luod, luod does the kexec
    // itself, holding its sessions, as the direct strategy does.
    spdlog::warn("kexec.target was started outside luod (job {}) and stops luod ({}): when it does, luod does the kexec "
                 "itself with its {} sessions (direct: what is stopped after luod is not); install "
                 "units/extra/orderly-kexec.conf for an orderly kexec, or use luoctl update",
                 id, strategies_.systemd().describe(), sessions);
}

void UpdateController::record_foreign_kexec(Strategy strategy)
{
    if (phase_ != Phase::none || foreign_kexec_recorded_)
        return;  // luod's own update keeps its record; a second job changes nothing
    // What the next boot's luod needs to report it: how the sessions cross and what they
    // were when the job came (no barrier, no reboot of luod's own). The boot id tells it a
    // kexec from a restart of luod within this boot.
    record_ = UpdateRecord();
    record_.strategy = std::string(to_string(strategy));
    record_.started_by = std::string(luo::update::kStartedBySystemctl);
    record_.from_release = first_line(luo::KernelPaths(device_.root()).os_release());
    record_.sessions = sessions_.outgoing_count();
    record_.files = sessions_.outgoing_file_count();
    record_.phases.set(ReportPhase::update_requested, realtime_usec());
    record_.boot_id = store_.boot_id();
    foreign_kexec_recorded_ =
        record_or_log("the record of the kexec started outside luod", [&] { store_.set_update_record(record_); });
}

bool UpdateController::kexec_instead_of_stopping()
{
    if (phase_ == Phase::rebooting) {
        if (strategy_ != Strategy::orderly)
            return false;
        // luod's own orderly kexec stops luod after all (its unit changed since luod asked):
        // the sessions go to the next kernel by luod's own reboot(), the update record is
        // written already.
        spdlog::warn("stopped during its orderly kexec: luod does the kexec itself, holding its {} sessions",
                     sessions_.outgoing_count());
        if (std::optional<std::string> failure = strategies_.reboot_direct(sessions_.outgoing_count()))
            fail_update(Result::failed, *failure);
        return false;
    }
    if (!kexec_when_stopped_)
        return false;
    kexec_when_stopped_ = false;
    if (sessions_.outgoing_count() == 0)
        return false;  // nothing to carry: an ordinary stop
    if (!kexec_loaded_) {
        spdlog::error("stopped for a kexec, but no kernel is loaded: luod stops, and its {} sessions end with it",
                      sessions_.outgoing_count());
        return false;
    }
    log::Fields f{{"LUO_STRATEGY", std::string(to_string(Strategy::direct))}};
    spdlog::warn("stopped by a kexec started outside luod: luod does the kexec itself, holding its {} sessions",
                 sessions_.outgoing_count());
    if (phase_ == Phase::none) {
        options_ = UpdateOptions();
        std::optional<std::uint64_t> job_seen = foreign_kexec_recorded_ ? record_.phases.get(ReportPhase::update_requested)
                                                                         : std::nullopt;
        record_ = UpdateRecord();
        record_.started_by = std::string(luo::update::kStartedBySystemctl);
        record_.from_release = first_line(luo::KernelPaths(device_.root()).os_release());
        record_.phases.set(ReportPhase::update_requested, job_seen.value_or(realtime_usec()));
    } else {
        // luod's own update had not reached its reboot (its sync or its barrier): the kexec
        // happens now anyway, so it goes without the rest of its barrier, and for real.
        spdlog::warn("luod's own update goes now, without the rest of its barrier");
        barrier_.clear();
        record_.dry_run = false;
    }
    strategy_ = Strategy::direct;
    record_.strategy = std::string(to_string(Strategy::direct));
    phase_ = Phase::rebooting;
    // reboot() returns only when the kexec did not happen (the update is failed, with every
    // session as it was); luod then stops as asked.
    reboot();
    return false;
}

void UpdateController::foreign_kexec_job_ended(std::uint32_t id, const std::string& result)
{
    if (result == "done" || phase_ == Phase::rebooting)
        return;  // the kexec goes on (luod is stopped next), or luod's own kexec does
    spdlog::info("kexec.target job {} started outside luod ended without a kexec ({})", id, result);
    kexec_when_stopped_ = false;
    if (foreign_kexec_recorded_ && phase_ == Phase::none) {
        record_or_log("the end of the kexec started outside luod", [&] { store_.set_update_record(std::nullopt); });
        record_ = UpdateRecord();
    }
    foreign_kexec_recorded_ = false;
    store_.return_manifest_to_fd_store();
    strategies_.kexec_called_off();
    if (foreign_kexec_announced_ && events_ && phase_ == Phase::none)
        events_->prepare_for_update(false);
    foreign_kexec_announced_ = false;
}

void UpdateController::cancel(const Caller& caller)
{
    if (!caller.may_administer())
        fail(ErrorKind::access_denied, not_allowed("cancel an update", polkit_action::kUpdate));
    if (phase_ != Phase::preparing && phase_ != Phase::flushing)
        fail(ErrorKind::invalid_state, "no update is being prepared");
    fail_update(Result::cancelled, "cancelled by uid " + std::to_string(caller.uid));
}

void UpdateController::fail_update(Result result, const std::string& reason)
{
    bool started = phase_ == Phase::preparing || phase_ == Phase::rebooting;  // PrepareForUpdate(true) sent
    phase_ = Phase::none;
    barrier_.clear();
    loop_.post([this] { barrier_timer_ = EventSource(); });
    record_or_log("the failed update's report", [&] { store_.set_last_update(report(result, reason)); });
    record_or_log("the end of the update", [&] { store_.set_update_record(std::nullopt); });
    record_ = UpdateRecord();
    log::Fields f{{"LUO_ERROR", reason}, {"MESSAGE_ID", std::string(message_id::kUpdateFailed)}};
    spdlog::warn("update {}: {}; every session is intact", luo::update::to_string(result), reason);
    if (events_) {
        if (started)
            events_->prepare_for_update(false);
        events_->update_failed(reason);
        events_->manager_properties_changed({"LastUpdate"});
    }
    refresh();
}

UpdateReport UpdateController::report(Result result, const std::string& reason) const
{
    return UpdateReport::of(record_, result, reason, store_.live_update_count());
}

// ---- after the kexec ----

void UpdateController::finish_restore()
{
    // Without a record, the update was not luod's: the report has only this side's phases.
    // A luod restarted while restoring keeps the phases its predecessor recorded.
    record_ = store_.update_record().value_or(UpdateRecord());
    if (!record_.phases.has(ReportPhase::restore_ready)) {
        record_.phases.set(ReportPhase::first_start, started_usec_);
        record_.phases.set(ReportPhase::restore_ready, realtime_usec());
    }
    if (sessions_.has_incoming())
        arm_unclaimed_timer(std::chrono::duration_cast<std::chrono::microseconds>(config_.unclaimed_timeout));
    if (sessions_.restore_pending()) {
        // The sessions are restored after luod is ready: the report waits for them. What it
        // knows so far is kept (one small entry), so a restart meanwhile keeps the phases.
        report_due_ = true;
        record_or_log("the update's phases", [&] { store_.set_update_record(record_); });
        // Once the background has read every session's owner (a bounded step a turn), the
        // report is written with their outcomes, before the restore itself ends.
        when_serving_.push_back([this] { when_owners_known([this] { complete_report(); }); });
        if (events_)
            events_->manager_properties_changed({"LiveUpdateCount"});
        refresh();
        return;
    }
    write_restore_report();
}

void UpdateController::complete_restore()
{
    if (!report_due_)
        return;
    (void)sessions_.sessions();  // every session restored
    complete_report();
}

void UpdateController::complete_report()
{
    if (!report_due_)
        return;
    report_due_ = false;
    write_restore_report();
}

std::string UpdateController::last_update_json() const
{
    if (report_due_)
        return luo::update::to_json(restore_report_head()).dump();
    return luo::update::to_json(store_.last_update()).dump();
}

bool UpdateController::update_unrecorded() const
{
    return record_.strategy.empty() && record_.started_by.empty();
}

UpdateReport UpdateController::restore_report_head() const
{
    UpdateReport r = report(Result::success, "");
    r.to_release = first_line(luo::KernelPaths(device_.root()).os_release());
    if (update_unrecorded())
        r.started_by = std::string(luo::update::kStartedByUnknown);
    if (auto called = record_.phases.get(ReportPhase::reboot_called))
        r.blackout_ms = (*record_.phases.get(ReportPhase::restore_ready) - *called) / 1000;
    return r;
}

void UpdateController::write_restore_report()
{
    auto began = std::chrono::steady_clock::now();
    auto cpu_began = thread_cpu_time();
    std::uint64_t ready = *record_.phases.get(ReportPhase::restore_ready);
    UpdateReport r = restore_report_head();
    bool unrecorded = update_unrecorded();
    r.outcomes.emplace();
    // Every session, those not restored yet as restoring will make them: none is restored for it.
    std::vector<SessionRegistry::Listed> sessions = sessions_.list(Caller{});
    for (const SessionRegistry::Listed& session : sessions)
        if (session.kind == luo::SessionKind::incoming)
            r.outcomes->push_back({session.name, session.owner.uid, session.files,
                                   std::string(to_string(luo::update::Outcome::crossed)), ""});
    // Sessions that ended before the report was written, and those claimed meanwhile.
    for (const luo::update::SessionOutcome& o : ended_before_report_)
        r.outcomes->push_back({o.name, o.owner_uid, o.files, std::string(to_string(luo::update::Outcome::crossed)), ""});
    // In name order: each later claim or finish finds its session's outcome by binary search.
    std::sort(r.outcomes->begin(), r.outcomes->end(),
              [](const luo::update::SessionOutcome& a, const luo::update::SessionOutcome& b) { return a.name < b.name; });
    for (const SessionRegistry::Listed& session : sessions)
        if (session.kind == luo::SessionKind::incoming && session.state == SessionState::retrieved)
            r.set_outcome(session.name, luo::update::Outcome::claimed);
    for (const luo::update::SessionOutcome& o : ended_before_report_)
        if (std::optional<luo::update::Outcome> outcome = luo::update::kOutcomes.parse(o.outcome))
            r.set_outcome(o.name, *outcome, o.reason);
    ended_before_report_.clear();
    if (unrecorded) {
        r.sessions = r.outcomes->size();
        r.files = 0;
        for (const luo::update::SessionOutcome& o : *r.outcomes)
            r.files += o.files;
    }
    if (!sessions_.has_incoming())
        r.phases.set(ReportPhase::all_finished, r.outcomes->empty() ? ready : realtime_usec());
    r.systemd = strategies_.systemd().kexec_facts();
    record_or_log("the update's report", [&] { store_.set_last_update(r); });
    record_or_log("the end of the update", [&] { store_.set_update_record(std::nullopt); });
    spdlog::debug("wrote the update's report with {} session outcomes: {} us of work, {} us on the CPU",
                  r.outcomes->size(),
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began).count(),
                  std::chrono::duration_cast<std::chrono::microseconds>(thread_cpu_time() - cpu_began).count());
    record_ = UpdateRecord();
    restored_this_boot_ = true;
    if (r.systemd)
        fold_systemd_facts();
    log::Fields f{{"LUO_LIVE_UPDATE", std::to_string(store_.live_update_count())},
                  {"MESSAGE_ID", std::string(message_id::kRestored)}};
    spdlog::info("live update #{} restored: blackout {} ms", store_.live_update_count(),
                 r.blackout_ms ? std::to_string(*r.blackout_ms) : "unknown");
    if (events_)
        events_->manager_properties_changed({"LiveUpdateCount", "LastUpdate"});
    refresh();
}

void UpdateController::fold_systemd_facts()
{
    std::optional<luo::update::SystemdKexecFacts> facts = strategies_.systemd().kexec_facts();
    std::optional<UpdateReport> r = store_.last_update();
    if (!facts || !restored_this_boot_ || !r)
        return;
    if (facts->kexec_count == 0 && r->strategy == "systemd")
        spdlog::warn("live update #{} went through systemd, yet systemd counts no kexec (KExecCount 0): its own "
                     "state did not cross (was /dev/liveupdate busy at boot or at shutdown?)",
                     store_.live_update_count());
    // Both count kexecs since the last cold boot, luod those its state crossed.
    if (facts->kexec_count > store_.live_update_count())
        spdlog::warn("systemd counts {} kexecs since the last cold boot, luod {} live updates: {} kexec{} carried "
                     "none of luod's state (luod was not running, or started after them)",
                     facts->kexec_count, store_.live_update_count(), facts->kexec_count - store_.live_update_count(),
                     facts->kexec_count - store_.live_update_count() == 1 ? "" : "s");
    else if (facts->kexec_count != 0 && facts->kexec_count < store_.live_update_count())
        spdlog::warn("systemd counts {} kexecs since the last cold boot, luod {} live updates: systemd's own state "
                     "did not cross every kexec",
                     facts->kexec_count, store_.live_update_count());
    if (r->systemd == facts)
        return;
    r->systemd = facts;
    record_or_log("the update's report", [&] { store_.set_last_update(*r); });
    if (events_)
        events_->manager_properties_changed({"LastUpdate"});
}

void UpdateController::session_changed(const SessionRecord& session, const std::vector<std::string>& properties)
{
    if (std::find(properties.begin(), properties.end(), "State") != properties.end())
        session_removed(session);
    if (session.kind == luo::SessionKind::incoming && session.state == SessionState::retrieved &&
        std::find(properties.begin(), properties.end(), "State") != properties.end())
        record_outcome(session.name, luo::update::Outcome::claimed, "");
}

void UpdateController::session_ended(const SessionRecord& session, SessionEnd how, const std::string& reason)
{
    using luo::update::Outcome;
    Outcome outcome = how == SessionEnd::finished ? Outcome::finished
                      : how == SessionEnd::released ? Outcome::released
                                                    : Outcome::lost;
    if (report_due_) {
        ended_before_report_.push_back(
            {session.name, session.owner.uid, session.files.size(), std::string(to_string(outcome)), reason});
        return;
    }
    record_outcome(session.name, outcome, reason);
}

void UpdateController::record_outcome(const std::string& name, luo::update::Outcome outcome, const std::string& reason)
{
    if (report_due_)
        return;  // the report, when written, says so (write_restore_report())
    const std::optional<UpdateReport>& current = store_.last_update();
    if (!current || !current->outcome_of(name))
        return;
    std::optional<Result> before = current->result;
    (void)store_.change_last_update([&](UpdateReport& r) { r.set_outcome(name, outcome, reason); });
    std::optional<Result> after = store_.last_update()->result;
    if (after != before || luo::update::is_loss(outcome)) {
        // A loss is written at once; a claim or a finish joins the next write (below).
        try {
            store_.flush_last_update();
        } catch (const std::exception& e) {
            spdlog::error("the update report could not record session '{}' as {}: {}", name, to_string(outcome),
                          e.what());
        }
    } else {
        schedule_report_write();
    }
    if (after != before && after == Result::sessions_lost) {
        log::Fields f{{"LUO_LIVE_UPDATE", std::to_string(store_.live_update_count())},
                      {"MESSAGE_ID", std::string(message_id::kUpdateSessionsLost)}};
        spdlog::error("live update #{}: {}", store_.live_update_count(), store_.last_update()->reason);
    }
    if (events_)
        events_->manager_properties_changed({"LastUpdate"});
}

void UpdateController::schedule_report_write()
{
    // The report holds an outcome per session carried: writing it costs what they all cost.
    // Outcomes of claims and finishes are written together, at most one second after the
    // first, or, when a write costs more than 50 ms, after 20 times what the last one cost
    // (so writing takes at most 5% of luod's time). LastUpdate shows them at once; a luod
    // that dies meanwhile leaves those sessions' last outcomes unwritten (the sessions
    // themselves are written ahead, as always).
    if (report_write_timer_.active())
        return;
    auto delay = std::max<std::chrono::microseconds>(std::chrono::seconds(1), last_report_write_ * 20);
    report_write_timer_ = loop_.add_timer(delay, [this] {
        loop_.post([this] {
            report_write_timer_ = EventSource();
            write_outcomes_now();
        });
    });
}

void UpdateController::write_outcomes_now()
{
    if (!store_.last_update_unwritten())
        return;
    auto start = std::chrono::steady_clock::now();
    record_or_log("the update report's session outcomes", [&] { store_.flush_last_update(); });
    last_report_write_ =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
}

void UpdateController::session_removed(const SessionRecord&)
{
    if (!sessions_.has_incoming() && !report_due_) {
        std::optional<UpdateReport> r = store_.last_update();
        if (r && (r->result == Result::success || r->result == Result::sessions_lost) &&
            !r->phases.has(ReportPhase::all_finished)) {
            r->phases.set(ReportPhase::all_finished, realtime_usec());
            record_or_log("the update's report", [&] { store_.set_last_update(*r); });
            log::Fields f{{"MESSAGE_ID", std::string(message_id::kAllFinished)}};
            spdlog::info("every session of live update #{} is finished or released", store_.live_update_count());
            if (events_)
                events_->manager_properties_changed({"LastUpdate"});
        }
    }
    refresh();
}

}  // namespace luod
