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
    auto add = [&](std::string id, std::string verdict, std::string detail) {
        out.push_back({std::move(id), std::move(verdict), std::move(detail)});
    };
    const DeviceAccess& device = facts.device;
    const SessionRegistry& sessions = facts.sessions;
    luo::KernelPaths paths(device.root());
    const luo::Features& features = device.features();

    if (device.available())
        add("device", "pass", "/dev/liveupdate is open (" + std::string(luo::to_string(device.transport())) + ")");
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

    if (facts.kexec_loaded)
        add("kernel-loaded", "pass", "a kernel is loaded");
    else
        add("kernel-loaded", "fail", "no kernel is loaded: load one first (luoctl load KERNEL)");

    if (!facts.kexec_loaded) {
        add("next-cmdline", "warn", "no kernel is loaded");
    } else if (!facts.loaded_cmdline) {
        add("next-cmdline", "warn", "the kernel was loaded outside luod: its command line is unknown; it needs "
                                    "kho=on liveupdate=on to receive the sessions");
    } else {
        bool next_kho = cmdline_flag(*facts.loaded_cmdline, "kho").value_or(false);
        bool next_luo = cmdline_flag(*facts.loaded_cmdline, "liveupdate").value_or(false);
        if (next_kho && next_luo)
            add("next-cmdline", "pass", "the loaded kernel gets kho=on liveupdate=on");
        else
            add("next-cmdline", "fail", "the loaded kernel's command line lacks kho=on or liveupdate=on: the "
                                        "sessions would be lost");
    }

    std::size_t outgoing = sessions.outgoing_count() + 1;  // and luod's own
    std::size_t most_files = 0;
    for (const auto& [name, r] : sessions.sessions())
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

    // What the kernel will freeze: VFIO devices need interrupts off and D0 (kernel-abi.md §4.2).
    std::string interrupts;
    {
        std::ifstream in(paths.interrupts());
        interrupts.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::vector<std::string> problems, unknown, pending;
    std::size_t memfds = 0, devices = 0;
    for (const auto& [name, r] : sessions.sessions()) {
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
        add("freezable", "fail", "the kernel will refuse to freeze: " + join_bounded(problems, "; "));
    else if (!unknown.empty())
        add("freezable", "warn", "cannot tell whether these devices can be frozen: " + join_bounded(unknown, ", "));
    else
        add("freezable", "pass", std::to_string(memfds) + " memfds and " + std::to_string(devices) +
                                     " devices can be frozen as far as luod can tell");
    if (!pending.empty())
        add("pending-files", "warn", "luod stopped while preserving " + join_bounded(pending, ", ") +
                                         ": whether they are preserved is unknown");

    if (sessions.incoming_count() > 0)
        add("incoming", "warn", std::to_string(sessions.incoming_count()) +
                                    " sessions from the last update are not finished: they will not be carried");

    try {
        std::string strategy = facts.strategy();
        add("strategy", "pass", strategy == "systemd" ? "systemd carries the sessions in luod's fd store"
                                                      : "direct: luod holds the sessions through reboot(2)");
    } catch (const ApiError& e) {
        add("strategy", "fail", e.what());
    }

    std::vector<std::string> blockers = facts.inhibitors.holders("block");
    if (!blockers.empty())
        add("inhibitors", "fail", "blocked by " + join_bounded(blockers, ", "));
    else
        add("inhibitors", "pass", std::to_string(facts.inhibitors.delay_count()) + " delay inhibitors will be waited for");
    return out;
}

}  // namespace luod
