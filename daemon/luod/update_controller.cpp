// SPDX-License-Identifier: Apache-2.0
#include "update_controller.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sdbus-c++/sdbus-c++.h>
#include <sstream>

#include "api_error.h"
#include "fault.h"
#include "log.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/paths.h"
#include "names.h"

namespace luod {

namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr std::size_t kMaxInhibitors = 1024;
constexpr std::size_t kMaxInhibitorsPerUid = 64;
constexpr std::size_t kMaxInhibitorText = 255;

std::uint64_t now_usec()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}

std::string first_line(const std::filesystem::path& path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// Whether a boolean kernel parameter is on ("name=on|1|y|yes|true"; the last one counts).
std::optional<bool> cmdline_flag(const std::string& cmdline, const std::string& name)
{
    std::istringstream in(cmdline);
    std::optional<bool> value;
    for (std::string word; in >> word;) {
        if (word.rfind(name + "=", 0) != 0)
            continue;
        std::string v = word.substr(name.size() + 1);
        value = v == "on" || v == "1" || v == "y" || v == "Y" || v == "yes" || v == "true";
    }
    return value;
}

std::string errno_text(const luo::Error& e)
{
    return luo::errno_name(e.errno_value()) + " (" + std::strerror(e.errno_value()) + ")";
}

luo::UniqueFd open_image(const std::string& path, const char* what)
{
    std::string named = std::string("the ") + what + " '" + printable(path) + "'";
    if (path.empty() || path.front() != '/')
        fail(ErrorKind::invalid_args, std::string("the ") + what + " path must be absolute: '" + printable(path) + "'");
    // O_NONBLOCK: a FIFO named here must not hang luod; only regular files are taken.
    // No magic links: /proc/self/fd/N would name one of luod's own fds (a session's memfd).
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_NO_MAGICLINKS;
    luo::UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how)));
    // Without openat2 (a kernel before 5.6, or a seccomp filter such as systemd-nspawn's that
    // does not know it) a plain open stands in: what a magic link could reach (a memfd, mode
    // 0777) still fails the owner and mode check below.
    if (!fd && errno == ENOSYS)
        fd = luo::UniqueFd(::open(path.c_str(), static_cast<int>(how.flags)));
    if (!fd && errno == ELOOP)
        fail(ErrorKind::invalid_args, named + " resolves through a /proc magic link or a symlink loop; name the file itself");
    if (!fd)
        fail(ErrorKind::invalid_args, "cannot open " + named + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        fail(ErrorKind::invalid_args, named + " is not a regular file");
    // The next kernel runs with every privilege: an image another user could rewrite (even
    // between this check and the kexec, through the same inode) is not one to boot.
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
        fail(ErrorKind::invalid_args, fmt::format("{} may be written by users other than root (owner uid {}, mode {:04o}); "
                                                  "refusing to boot it",
                                                  named, st.st_uid, st.st_mode & 07777));
    return fd;
}

std::string join(const std::vector<std::string>& parts, const char* separator)
{
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : separator) + p;
    return out;
}

}  // namespace

UpdateController::UpdateController(EventLoop& loop, SessionManager& sessions, FdStore& fd_store)
    : loop_(loop), sessions_(sessions), fd_store_(fd_store)
{
}

UpdateController::~UpdateController() { sessions_.remove_observer(this); }

void UpdateController::start(sdbus::IConnection& bus, UpdateEvents& events)
{
    bus_ = &bus;
    events_ = &events;
    sessions_.add_observer(this);
    luo::KernelPaths paths(sessions_.root());
    state_watch_ = std::make_unique<FileWatch>(loop_, paths.liveupdate_state(), [this] { refresh(); });
    loaded_watch_ = std::make_unique<FileWatch>(loop_, paths.kexec_loaded(), [this] { refresh(); });
    refresh();
    const json& in_flight = sessions_.update_record();
    bool rebooted_since = in_flight.is_object() && !in_flight.value("boot_id", "").empty() &&
                          in_flight.value("boot_id", "") != sessions_.boot_id();
    if (sessions_.restored_from_update() || rebooted_since) {
        finish_restore();
    } else if (in_flight.is_object() && !in_flight.empty()) {
        // luod stopped in the middle of an update it started in this boot: it did not
        // happen. Services that quiesced hear so once luod is back on the bus.
        record_ = in_flight;
        sessions_.set_last_update(report("failed", "luod stopped during the update; it did not happen"));
        sessions_.set_update_record(json::object());
        record_ = json::object();
        spdlog::warn("the update in progress when luod stopped did not happen; every session is intact");
        loop_.post([this] {
            if (events_) {
                events_->prepare_for_update(false);
                events_->update_failed("luod stopped during the update; it did not happen");
            }
        });
    } else if (sessions_.incoming_count() > 0) {
        // A restart while sessions of the last update are still out: the unclaimed ones are
        // released when their time is up, counted from the restore.
        auto phases = sessions_.last_update().value("phases", json::object());
        auto ready = std::chrono::microseconds(phases.value("restore_ready", now_usec()));
        auto due = ready + std::chrono::duration_cast<std::chrono::microseconds>(sessions_.config().unclaimed_timeout);
        auto left = due - std::chrono::microseconds(now_usec());
        arm_unclaimed_timer(std::max(left, std::chrono::microseconds(0)));
    }
}

void UpdateController::arm_unclaimed_timer(std::chrono::microseconds delay)
{
    if (sessions_.config().unclaimed_timeout.count() == 0)
        return;
    unclaimed_timer_ = loop_.add_timer(delay, [this] {
        loop_.post([this] {
            std::size_t released = sessions_.release_unclaimed();
            if (released > 0)
                spdlog::warn("{} sessions were not claimed within {} s of the update and were released", released,
                             sessions_.config().unclaimed_timeout.count());
        });
    });
}

std::string UpdateController::state() const
{
    if (phase_ == Phase::preparing)
        return "preparing";
    if (phase_ == Phase::rebooting)
        return "rebooting";
    if (sessions_.incoming_count() > 0)
        return "updated";
    return kexec_loaded_ ? "loaded" : "idle";
}

void UpdateController::refresh()
{
    luo::KernelPaths paths(sessions_.root());
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
            loaded_cmdline_.reset();
        changed.emplace_back("KexecLoaded");
        spdlog::info("a kernel is {} loaded", loaded ? "now" : "no longer");
    }
    std::string st = state();
    if (st != published_state_) {
        if (!published_state_.empty())
            spdlog::info("state: {} -> {}", published_state_, st);
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
    if (what != "update")
        fail(ErrorKind::invalid_args, "only \"update\" can be inhibited");
    if (mode != "delay" && mode != "block")
        fail(ErrorKind::invalid_args, "the mode must be \"delay\" or \"block\"");
    if (mode == "block" && !caller.is_root())
        fail(ErrorKind::access_denied, "only root may take block inhibitors");
    for (const std::string* text : {&who, &why})
        if (text->size() > kMaxInhibitorText || !is_valid_utf8(*text))
            fail(ErrorKind::invalid_args, "who and why must be UTF-8 of at most 255 bytes");
    auto mine = std::count_if(inhibitors_.begin(), inhibitors_.end(),
                              [&](const auto& kv) { return kv.second.uid == caller.uid; });
    if (inhibitors_.size() >= kMaxInhibitors || static_cast<std::size_t>(mine) >= kMaxInhibitorsPerUid)
        fail(ErrorKind::limits_exceeded, "too many inhibitors");
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        fail(ErrorKind::limits_exceeded, std::string("cannot make an inhibitor: ") + std::strerror(errno));
    luo::UniqueFd read_end(p[0]), write_end(p[1]);
    std::uint64_t id = next_inhibitor_++;
    Inhibitor& inh = inhibitors_[id];
    inh.who = who;
    inh.why = why;
    inh.mode = mode;
    inh.uid = caller.uid;
    inh.pid = caller.pid;
    inh.fifo = std::move(read_end);
    inh.watch = loop_.add_io(inh.fifo.get(), EPOLLIN, [this, id](std::uint32_t) {
        // Removed after this dispatch: the watch cannot be destroyed from its own callback.
        loop_.post([this, id] { inhibitor_released(id); });
    });
    spdlog::info("{} inhibitor taken by uid {} ({}): {}", mode, caller.uid, who, why);
    return write_end;
}

std::size_t UpdateController::delay_inhibitors() const
{
    return static_cast<std::size_t>(std::count_if(inhibitors_.begin(), inhibitors_.end(),
                                                  [](const auto& kv) { return kv.second.mode == "delay"; }));
}

void UpdateController::inhibitor_released(std::uint64_t id)
{
    auto it = inhibitors_.find(id);
    if (it == inhibitors_.end())
        return;
    spdlog::info("{} inhibitor of uid {} ({}) released", it->second.mode, it->second.uid, it->second.who);
    inhibitors_.erase(it);
    if (phase_ == Phase::preparing && delay_inhibitors() == 0)
        barrier_passed();
}

// ---- kernel loading ----

void UpdateController::load_kernel(const Caller& caller, const std::string& kernel, const std::string& initrd,
                                   const std::string& cmdline, bool reuse_cmdline, bool no_liveupdate_flags)
{
    if (!caller.is_root())
        fail(ErrorKind::access_denied, "only root may load a kernel");
    if (phase_ != Phase::none)
        fail(ErrorKind::update_in_progress, "an update is in progress");
    luo::UniqueFd kernel_fd = open_image(kernel, "kernel");
    luo::UniqueFd initrd_fd = initrd.empty() ? luo::UniqueFd() : open_image(initrd, "initrd");
    std::string line;
    if (reuse_cmdline)
        line = first_line(luo::KernelPaths(sessions_.root()).cmdline());
    if (!cmdline.empty())
        line += (line.empty() ? "" : " ") + cmdline;
    if (!no_liveupdate_flags)
        for (const char* flag : {"kho", "liveupdate"})
            if (!cmdline_flag(line, flag))
                line += (line.empty() ? "" : " ") + std::string(flag) + "=on";
    try {
        luo::Kexec(sessions_.root()).load(kernel_fd.get(), initrd_fd.get(), line);
    } catch (const luo::Error& e) {
        if (e.errno_value() == ENOEXEC)
            fail(ErrorKind::kernel_error, "the running kernel cannot load '" + kernel + "': " + errno_text(e));
        fail(ErrorKind::kernel_error, "kexec_file_load failed: " + errno_text(e));
    }
    loaded_cmdline_ = line;
    spdlog::info("kernel {} loaded with command line '{}'", kernel, line);
    refresh();
    kexec_loaded_ = true;  // whatever the file says a moment later
    refresh();
}

void UpdateController::unload_kernel(const Caller& caller)
{
    if (!caller.is_root())
        fail(ErrorKind::access_denied, "only root may unload the kernel");
    if (phase_ != Phase::none)
        fail(ErrorKind::update_in_progress, "an update is in progress");
    try {
        luo::Kexec(sessions_.root()).unload();
    } catch (const luo::Error& e) {
        fail(ErrorKind::kernel_error, "kexec_file_load(KEXEC_FILE_UNLOAD) failed: " + errno_text(e));
    }
    loaded_cmdline_.reset();
    spdlog::info("kernel unloaded");
    refresh();
}

// ---- checks ----

bool UpdateController::systemd_can_carry_sessions() const
{
    if (!fd_store_.enabled() || !bus_)
        return false;
    try {
        auto proxy = sdbus::createProxy(*bus_, "org.freedesktop.systemd1", "/org/freedesktop/systemd1");
        sdbus::Variant version;
        proxy->callMethod("Get")
            .onInterface("org.freedesktop.DBus.Properties")
            .withArguments(std::string("org.freedesktop.systemd1.Manager"), std::string("Version"))
            .withTimeout(std::chrono::seconds(2))
            .storeResultsTo(version);
        std::string text = version.get<std::string>();
        auto digits = text.find_first_of("0123456789");
        // systemd carries fd stores through LUO from v261 (FileDescriptorStorePreserve=).
        return digits != std::string::npos && std::stoi(text.substr(digits)) >= 261;
    } catch (const std::exception&) {
        return false;
    }
}

std::string UpdateController::resolve_strategy(const std::string& requested) const
{
    if (requested == "direct")
        return requested;
    if (requested == "systemd") {
        if (!systemd_can_carry_sessions())
            fail(ErrorKind::not_supported, "the systemd strategy needs systemd 261 or later running luod with its fd "
                                           "store");
        return requested;
    }
    if (requested == "auto")
        return systemd_can_carry_sessions() ? "systemd" : "direct";
    fail(ErrorKind::invalid_args, "unknown strategy '" + printable(requested) + "' (auto, direct, systemd)");
}

std::vector<CheckResult> UpdateController::check()
{
    std::vector<CheckResult> out;
    auto add = [&](std::string id, std::string verdict, std::string detail) {
        out.push_back({std::move(id), std::move(verdict), std::move(detail)});
    };
    luo::KernelPaths paths(sessions_.root());
    const luo::Features& features = sessions_.features();

    if (sessions_.device_available())
        add("device", "pass", "/dev/liveupdate is open (" + std::string(luo::to_string(sessions_.transport())) + ")");
    else
        add("device", "fail", "/dev/liveupdate is not available to luod");

    std::string running = first_line(paths.cmdline());
    bool kho = cmdline_flag(running, "kho").value_or(false), luo = cmdline_flag(running, "liveupdate").value_or(false);
    if (kho && luo)
        add("running-cmdline", "pass", "the running kernel has kho=on liveupdate=on");
    else
        add("running-cmdline", "fail", "the running kernel was booted without " +
                                           std::string(!kho ? "kho=on " : "") + (!luo ? "liveupdate=on" : "") +
                                           ": it cannot hand anything over");

    if (kexec_loaded_)
        add("kernel-loaded", "pass", "a kernel is loaded");
    else
        add("kernel-loaded", "fail", "no kernel is loaded: load one first (luoctl load KERNEL)");

    if (!kexec_loaded_) {
        add("next-cmdline", "warn", "no kernel is loaded");
    } else if (!loaded_cmdline_) {
        add("next-cmdline", "warn", "the kernel was loaded outside luod: its command line is unknown; it needs "
                                    "kho=on liveupdate=on to receive the sessions");
    } else {
        bool next_kho = cmdline_flag(*loaded_cmdline_, "kho").value_or(false);
        bool next_luo = cmdline_flag(*loaded_cmdline_, "liveupdate").value_or(false);
        if (next_kho && next_luo)
            add("next-cmdline", "pass", "the loaded kernel gets kho=on liveupdate=on");
        else
            add("next-cmdline", "fail", "the loaded kernel's command line lacks kho=on or liveupdate=on: the "
                                        "sessions would be lost");
    }

    std::size_t outgoing = sessions_.outgoing_count() + 1;  // and luod's own
    std::size_t most_files = 0;
    for (const auto& [name, r] : sessions_.sessions())
        most_files = std::max(most_files, r.files.size());
    if (features.max_sessions > 0 && outgoing > features.max_sessions)
        add("limits", "fail", std::to_string(outgoing) + " sessions exceed the kernel's " +
                                  std::to_string(features.max_sessions));
    else if (features.max_files_per_session > 0 && most_files > features.max_files_per_session)
        add("limits", "fail", "a session holds more files than the kernel's " +
                                  std::to_string(features.max_files_per_session));
    else
        add("limits", "pass", std::to_string(outgoing) + " sessions, at most " + std::to_string(most_files) +
                                  " files in one: within the kernel's limits");

    // What the kernel will freeze: VFIO devices need interrupts off and D0 (ABI §4.2).
    std::string interrupts;
    {
        std::ifstream in(paths.interrupts());
        interrupts.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::vector<std::string> problems, unknown, pending;
    std::size_t memfds = 0, devices = 0;
    for (const auto& [name, r] : sessions_.sessions()) {
        if (r.kind != luo::SessionKind::outgoing)
            continue;
        for (const FileRecord& f : r.files) {
            if (f.pending)
                pending.push_back(name + "/" + f.label);
            if (f.type == "memfd")
                ++memfds;
            if (f.type != "vfio")
                continue;
            ++devices;
            std::string node = std::filesystem::path(f.device).filename();
            std::string bdf;
            std::error_code ec;
            for (const auto& dev : std::filesystem::directory_iterator(paths.pci_devices(), ec))
                if (std::filesystem::exists(dev.path() / "vfio-dev" / node))
                    bdf = dev.path().filename();
            if (bdf.empty()) {
                unknown.push_back(name + "/" + f.label);
                continue;
            }
            if (interrupts.find("(" + bdf + ")") != std::string::npos)
                problems.push_back(name + "/" + f.label + ": device " + bdf + " has interrupts enabled");
            std::string power = first_line(paths.pci_devices() / bdf / "power_state");
            if (!power.empty() && power != "D0")
                problems.push_back(name + "/" + f.label + ": device " + bdf + " is in " + power + ", not D0");
        }
    }
    if (!problems.empty())
        add("freezable", "fail", "the kernel will refuse to freeze: " + join(problems, "; "));
    else if (!unknown.empty())
        add("freezable", "warn", "cannot tell whether these devices can be frozen: " + join(unknown, ", "));
    else
        add("freezable", "pass", std::to_string(memfds) + " memfds and " + std::to_string(devices) +
                                     " devices can be frozen as far as luod can tell");
    if (!pending.empty())
        add("pending-files", "warn", "luod stopped while preserving " + join(pending, ", ") +
                                         ": whether they are preserved is unknown");

    if (sessions_.incoming_count() > 0)
        add("incoming", "warn", std::to_string(sessions_.incoming_count()) +
                                    " sessions from the last update are not finished: they will not be carried");

    try {
        std::string strategy = resolve_strategy(sessions_.config().strategy);
        add("strategy", "pass", strategy == "systemd" ? "systemd carries the sessions in luod's fd store"
                                                      : "direct: luod holds the sessions through reboot(2)");
    } catch (const ApiError& e) {
        add("strategy", "fail", e.what());
    }

    std::vector<std::string> blockers;
    for (const auto& [id, inh] : inhibitors_)
        if (inh.mode == "block")
            blockers.push_back(inh.who + " (" + inh.why + ")");
    if (!blockers.empty())
        add("inhibitors", "fail", "blocked by " + join(blockers, ", "));
    else
        add("inhibitors", "pass", std::to_string(delay_inhibitors()) + " delay inhibitors will be waited for");
    return out;
}

// ---- the update ----

void UpdateController::update(const Caller& caller, const UpdateOptions& options)
{
    if (!caller.is_root())
        fail(ErrorKind::access_denied, "only root may start an update");
    if (phase_ != Phase::none)
        fail(ErrorKind::update_in_progress, "an update is " + state());
    if (!kexec_loaded_)
        fail(ErrorKind::not_loaded, "no kernel is loaded: load one first");
    std::string strategy = resolve_strategy(options.strategy.empty() ? sessions_.config().strategy : options.strategy);
    std::vector<std::string> failed, blockers;
    for (const CheckResult& r : check()) {
        if (r.verdict != "fail" || r.id == "strategy")
            continue;
        (r.id == "inhibitors" ? blockers : failed).push_back(r.id + ": " + r.detail);
    }
    if (!failed.empty() && !options.force)
        fail(ErrorKind::checks_failed, "pre-flight checks failed: " + join(failed, "; "));
    if (!blockers.empty() && !options.force)
        fail(ErrorKind::blocked_by_inhibitor, join(blockers, "; "));

    options_ = options;
    strategy_ = strategy;
    record_ = json{{"strategy", strategy},
                   {"dry_run", options.dry_run},
                   {"from_release", first_line(luo::KernelPaths(sessions_.root()).os_release())},
                   {"sessions", sessions_.outgoing_count()},
                   {"files", sessions_.file_count()},
                   {"phases", {{"update_requested", now_usec()}}}};
    sessions_.set_update_record(record_);
    phase_ = Phase::preparing;
    refresh();
    log::Fields f{{"LUO_STRATEGY", strategy}};
    spdlog::info("{}update requested by uid {} ({} strategy): waiting for {} delay inhibitors",
                 options.dry_run ? "dry-run " : "", caller.uid, strategy, delay_inhibitors());
    if (events_)
        events_->prepare_for_update(true);
    fault_point("barrier");
    if (delay_inhibitors() == 0) {
        loop_.post([this] { barrier_passed(); });
    } else {
        auto timeout = options.delay_timeout.value_or(
            std::chrono::duration_cast<std::chrono::microseconds>(sessions_.config().delay_timeout));
        barrier_timer_ = loop_.add_timer(timeout, [this, timeout] {
            loop_.post([this, timeout] {
                if (phase_ != Phase::preparing)
                    return;
                std::vector<std::string> holders;
                for (const auto& [id, inh] : inhibitors_)
                    if (inh.mode == "delay")
                        holders.push_back(inh.who + " (" + inh.why + ")");
                fail_update("failed", "the readiness barrier timed out after " +
                                          std::to_string(timeout.count() / 1000) + " ms; still held by " +
                                          join(holders, ", "));
            });
        });
    }
}

void UpdateController::barrier_passed()
{
    if (phase_ != Phase::preparing)
        return;
    record_["phases"]["barrier_passed"] = now_usec();
    if (options_.dry_run) {
        if (events_)
            events_->prepare_for_update(false);
        phase_ = Phase::none;
        sessions_.set_last_update(report("dry-run", ""));
        sessions_.set_update_record(json::object());
        record_ = json::object();
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
    record_["phases"]["reboot_called"] = now_usec();
    record_["boot_id"] = sessions_.boot_id();  // the next luod tells a reboot from a restart by it
    // The manifest now holds all the next kernel's luod needs to finish the report.
    sessions_.set_update_record(record_);
    fault_point("before-reboot");
    if (strategy_ == "direct") {
        spdlog::info("calling reboot(LINUX_REBOOT_CMD_KEXEC) with {} sessions", sessions_.outgoing_count());
        spdlog::default_logger()->flush();
        try {
            luo::Kexec(sessions_.root()).reboot();
        } catch (const luo::Error& e) {
            std::string why = errno_text(e);
            if (e.errno_value() == EINVAL)
                why += ": a preserved file could not be frozen (e.g. a VFIO device with interrupts enabled) or no "
                       "kernel is loaded";
            else if (e.errno_value() == EPERM)
                why += ": luod lacks CAP_SYS_BOOT";
            fail_update("failed", "reboot(LINUX_REBOOT_CMD_KEXEC) failed: " + why);
            return;
        }
        spdlog::info("the kernel is rebooting");
        return;
    }
    // systemd: luod's sessions are in its fd store; systemd-shutdown opens the device at the
    // very end, so luod lets go of it first.
    sessions_.release_device();
    try {
        auto proxy = sdbus::createProxy(*bus_, "org.freedesktop.systemd1", "/org/freedesktop/systemd1");
        sdbus::ObjectPath job;
        proxy->callMethod("StartUnit")
            .onInterface("org.freedesktop.systemd1.Manager")
            .withArguments(std::string("kexec.target"), std::string("replace-irreversibly"))
            .withTimeout(std::chrono::seconds(25))
            .storeResultsTo(job);
        spdlog::info("systemd started kexec.target (job {}): it carries the sessions", std::string(job));
    } catch (const sdbus::Error& e) {
        sessions_.reopen_device();
        fail_update("failed", "systemd refused to start kexec.target: " + e.getMessage() + " (" + e.getName() + ")");
    }
}

void UpdateController::cancel(const Caller& caller)
{
    if (!caller.is_root())
        fail(ErrorKind::access_denied, "only root may cancel an update");
    if (phase_ != Phase::preparing)
        fail(ErrorKind::invalid_state, "no update is being prepared");
    fail_update("cancelled", "cancelled by uid " + std::to_string(caller.uid));
}

void UpdateController::fail_update(const std::string& result, const std::string& reason)
{
    bool started = phase_ != Phase::none;
    phase_ = Phase::none;
    loop_.post([this] { barrier_timer_ = EventSource(); });
    sessions_.set_last_update(report(result, reason));
    sessions_.set_update_record(json::object());
    record_ = json::object();
    log::Fields f{{"LUO_ERROR", reason}};
    spdlog::warn("update {}: {}; every session is intact", result, reason);
    if (events_) {
        if (started)
            events_->prepare_for_update(false);
        events_->update_failed(reason);
        events_->manager_properties_changed({"LastUpdate"});
    }
    refresh();
}

json UpdateController::report(const std::string& result, const std::string& reason) const
{
    json phases = record_.value("phases", json::object());
    json r{{"result", result},
           {"reason", reason},
           {"strategy", record_.value("strategy", "")},
           {"dry_run", record_.value("dry_run", false)},
           {"from_release", record_.value("from_release", "")},
           {"to_release", ""},
           {"sessions", record_.value("sessions", 0)},
           {"files", record_.value("files", 0)},
           {"phases", phases},
           {"live_update_count", sessions_.live_update_count()}};
    return r;
}

// ---- after the kexec ----

void UpdateController::finish_restore()
{
    record_ = sessions_.update_record();
    if (!record_.is_object() || record_.empty())
        record_ = json{{"phases", json::object()}};  // an update luod did not start
    json& phases = record_["phases"];
    phases["first_start"] = sessions_.started_usec();
    phases["restore_ready"] = now_usec();
    json r = report("success", "");
    r["to_release"] = first_line(luo::KernelPaths(sessions_.root()).os_release());
    if (phases.contains("reboot_called"))
        r["blackout_ms"] = (phases["restore_ready"].get<std::uint64_t>() - phases["reboot_called"].get<std::uint64_t>()) / 1000;
    if (sessions_.incoming_count() == 0)
        r["phases"]["all_finished"] = phases["restore_ready"];
    sessions_.set_last_update(r);
    sessions_.set_update_record(json::object());
    record_ = json::object();
    log::Fields f{{"LUO_LIVE_UPDATE", std::to_string(sessions_.live_update_count())}};
    spdlog::info("live update #{} restored: blackout {} ms", sessions_.live_update_count(),
                 r.contains("blackout_ms") ? std::to_string(r["blackout_ms"].get<std::uint64_t>()) : "unknown");
    if (sessions_.incoming_count() > 0)
        arm_unclaimed_timer(std::chrono::duration_cast<std::chrono::microseconds>(sessions_.config().unclaimed_timeout));
    if (events_)
        events_->manager_properties_changed({"LiveUpdateCount", "LastUpdate"});
    refresh();
}

void UpdateController::session_removed(const std::string&)
{
    if (sessions_.incoming_count() == 0) {
        json r = sessions_.last_update();
        if (r.is_object() && r.value("result", "") == "success" && r.contains("phases") &&
            !r["phases"].contains("all_finished")) {
            r["phases"]["all_finished"] = now_usec();
            sessions_.set_last_update(r);
            spdlog::info("every session of live update #{} is finished or released", sessions_.live_update_count());
            if (events_)
                events_->manager_properties_changed({"LastUpdate"});
        }
    }
    refresh();
}

SessionRecord& UpdateController::retrieve_session(const Caller& caller, const std::string& name)
{
    return sessions_.retrieve_session(caller, name);
}

}  // namespace luod
