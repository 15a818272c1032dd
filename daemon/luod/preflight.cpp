// SPDX-License-Identifier: Apache-2.0
#include "preflight.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "api_error.h"
#include "kernel_files.h"
#include "luo/paths.h"
#include "names.h"

namespace luod {

std::vector<CheckResult> preflight_checks(const UpdateFacts& facts)
{
    std::vector<CheckResult> out;
    auto add = [&](CheckId id, Verdict verdict, std::string detail) {
        out.push_back({id, verdict, std::move(detail)});
    };
    const DeviceAccess& device = facts.device;
    const SessionRegistry& sessions = facts.sessions;
    luo::KernelPaths paths(device.root());
    const luo::Features& features = device.features();

    if (device.available())
        add(CheckId::device, Verdict::pass, "/dev/liveupdate works (" + std::string(luo::to_string(device.transport())) + ")");
    else
        add(CheckId::device, Verdict::fail, "/dev/liveupdate is not available to luod");

    std::string running = first_line(paths.cmdline());
    bool kho = cmdline_flag(running, "kho").value_or(false), luo = cmdline_flag(running, "liveupdate").value_or(false);
    if (kho && luo)
        add(CheckId::running_cmdline, Verdict::pass, "the running kernel has kho=on liveupdate=on");
    else
        add(CheckId::running_cmdline, Verdict::fail, "the running kernel was booted without " +
                                           std::string(!kho ? "kho=on " : "") + (!luo ? "liveupdate=on" : "") +
                                           ": it cannot hand anything over");

    if (facts.kexec_loaded)
        add(CheckId::kernel_loaded, Verdict::pass, "a kernel is loaded");
    else
        add(CheckId::kernel_loaded, Verdict::fail, "no kernel is loaded: load one first (luoctl load KERNEL)");

    if (!facts.kexec_loaded) {
        add(CheckId::next_cmdline, Verdict::warn, "no kernel is loaded");
    } else if (!facts.loaded_cmdline) {
        add(CheckId::next_cmdline, Verdict::warn, "the kernel was loaded outside luod: its command line is unknown; it needs "
                                    "kho=on liveupdate=on to receive the sessions");
    } else {
        bool next_kho = cmdline_flag(*facts.loaded_cmdline, "kho").value_or(false);
        bool next_luo = cmdline_flag(*facts.loaded_cmdline, "liveupdate").value_or(false);
        if (next_kho && next_luo)
            add(CheckId::next_cmdline, Verdict::pass, "the loaded kernel gets kho=on liveupdate=on");
        else
            add(CheckId::next_cmdline, Verdict::fail, "the loaded kernel's command line lacks kho=on or liveupdate=on: the "
                                        "sessions would be lost");
    }

    // Sessions closed while another process holds their fd are carried too: they count.
    const bool everything = facts.viewer.is_root();
    auto visible = [&](const SessionRecord& r) { return SessionRegistry::may_access(facts.viewer, r); };
    std::size_t outgoing = sessions.outgoing_count() + 1;  // and luod's own
    std::size_t most_files = 0;
    for (const auto& [name, r] : sessions.sessions())
        most_files = std::max(most_files, r.files.size());
    if (features.max_sessions > 0 && outgoing > features.max_sessions)
        add(CheckId::limits, Verdict::fail,
            everything ? std::to_string(outgoing) + " sessions exceed the kernel's " + std::to_string(features.max_sessions)
                       : "the sessions exceed the kernel's limit");
    else if (features.max_files_per_session > 0 && most_files > features.max_files_per_session)
        add(CheckId::limits, Verdict::fail,
            everything ? "a session holds more files than the kernel's " + std::to_string(features.max_files_per_session)
                       : "a session holds more files than the kernel takes");
    else
        add(CheckId::limits, Verdict::pass,
            everything ? std::to_string(outgoing) + " sessions, at most " + std::to_string(most_files) +
                             " files in one: within the kernel's limits"
                       : "the sessions are within the kernel's limits");

    // What the kernel will freeze: VFIO devices need interrupts off and D0 (kernel-abi.md §4.2).
    std::string interrupts;
    {
        std::ifstream in(paths.interrupts());
        interrupts.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::vector<std::string> problems, unknown, pending;
    std::size_t memfds = 0, devices = 0;
    bool others_problems = false, others_unknown = false, others_pending = false;
    for (const auto& [name, r] : sessions.sessions()) {
        if (r.kind != luo::SessionKind::outgoing)
            continue;
        // Others' files count in the verdicts, but their names are not shown.
        const bool shown = visible(r);
        for (const FileRecord& f : r.files) {
            if (f.pending)
                (shown ? pending.push_back(name + "/" + f.label) : void(others_pending = true));
            if (f.type == FileType::memfd)
                ++memfds;
            if (f.type != FileType::vfio)
                continue;
            ++devices;
            std::string node = std::filesystem::path(f.device).filename();
            std::string bdf;
            std::error_code ec;
            for (const auto& dev : std::filesystem::directory_iterator(paths.pci_devices(), ec))
                if (std::filesystem::exists(dev.path() / "vfio-dev" / node))
                    bdf = dev.path().filename();
            if (bdf.empty()) {
                (shown ? unknown.push_back(name + "/" + f.label) : void(others_unknown = true));
                continue;
            }
            if (interrupts.find("(" + bdf + ")") != std::string::npos)
                (shown ? problems.push_back(name + "/" + f.label + ": device " + bdf + " has interrupts enabled")
                       : void(others_problems = true));
            std::string power = first_line(paths.pci_devices() / bdf / "power_state");
            if (!power.empty() && power != "D0")
                (shown ? problems.push_back(name + "/" + f.label + ": device " + bdf + " is in " + power + ", not D0")
                       : void(others_problems = true));
        }
    }
    auto listed = [](std::vector<std::string> names, bool others, std::string_view separator) {
        if (others)
            names.emplace_back("files of other owners");
        return join_bounded(names, separator);
    };
    if (!problems.empty() || others_problems)
        add(CheckId::freezable, Verdict::fail, "the kernel will refuse to freeze: " + listed(problems, others_problems, "; "));
    else if (!unknown.empty() || others_unknown)
        add(CheckId::freezable, Verdict::warn,
            "cannot tell whether these devices can be frozen: " + listed(unknown, others_unknown, ", "));
    else if (everything)
        add(CheckId::freezable, Verdict::pass, std::to_string(memfds) + " memfds and " + std::to_string(devices) +
                                     " devices can be frozen as far as luod can tell");
    else
        add(CheckId::freezable, Verdict::pass, "every file can be frozen as far as luod can tell");
    if (!pending.empty() || others_pending)
        add(CheckId::pending_files, Verdict::warn, "luod stopped while preserving " +
                                                       listed(pending, others_pending, ", ") +
                                                       ": whether they are preserved is unknown");

    // An update now would drop them: their owners' state would be lost without a word.
    std::vector<std::string> unclaimed, unfinished;
    std::size_t left = 0;
    bool others_left = false;
    for (const auto& [name, r] : sessions.sessions()) {
        if (r.kind != luo::SessionKind::incoming)
            continue;
        ++left;
        if (!visible(r))
            others_left = true;  // counted in the verdict, not named
        else
            (r.state == SessionState::incoming ? unclaimed : unfinished).push_back(name);
    }
    if (left > 0)
        add(CheckId::incoming, Verdict::fail,
            (everything ? std::to_string(left) + " sessions" : std::string("sessions")) +
                " from the last update would be lost: " +
                (unclaimed.empty() ? "" : "unclaimed " + join_bounded(unclaimed, ", ")) +
                (unclaimed.empty() || unfinished.empty() ? "" : "; ") +
                (unfinished.empty() ? "" : "claimed but not finished " + join_bounded(unfinished, ", ")) +
                (others_left ? std::string(unclaimed.empty() && unfinished.empty() ? "" : "; ") + "sessions of other owners"
                             : std::string()) +
                " (finish or close them, or wait for UnclaimedTimeoutSec)");
    else
        add(CheckId::incoming, Verdict::pass, "no session of the last update is left");

    try {
        Strategy strategy = facts.strategy();
        add(CheckId::strategy, Verdict::pass,
            strategy == Strategy::systemd   ? "systemd carries the sessions in luod's fd store"
            : strategy == Strategy::orderly ? "orderly: systemd stops the services, luod holds the sessions through "
                                              "systemd-shutdown's reboot(2)"
                                            : "direct: luod holds the sessions through reboot(2)");
    } catch (const ApiError& e) {
        add(CheckId::strategy, Verdict::fail, e.what());
    }

    std::vector<std::string> blockers = facts.inhibitors.holders(InhibitMode::block);
    if (!blockers.empty())
        add(CheckId::inhibitors, Verdict::fail, "blocked by " + join_bounded(blockers, ", "));
    else
        add(CheckId::inhibitors, Verdict::pass,
            everything ? std::to_string(facts.inhibitors.barrier(Inhibitors::may_delay(sessions.sessions())).size()) +
                             " delay inhibitors will be waited for"
                       : "no block inhibitor is held");
    return out;
}

}  // namespace luod
