// SPDX-License-Identifier: Apache-2.0
// The model's simulated userspace: what it starts at boot (--init) and what it ends when
// it reboots, as a kernel's kexec ends every process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace luo::kmodel {

struct UserspaceConfig {
    std::vector<pid_t> process_groups;            // --kill-pgid
    std::vector<std::filesystem::path> cgroups;   // --kill-cgroup
    std::string reboot_hook;                      // --reboot-hook, run before the killing
    std::string init_command;                     // --init, started at every boot
    // --spare-pid: processes outside the simulated machine that hold model fds anyway (a
    // test harness standing in for the service manager's fd store). Never ended.
    std::vector<pid_t> spared;
};

// Processes (other than the model) with an fd on one of the given socket inodes: every
// holder of a model device or session fd, however it got it (fork, SCM_RIGHTS).
std::set<pid_t> processes_holding(const std::set<ino_t>& socket_inodes);

// Ends the simulated userspace: runs the hook, then SIGKILLs the process groups, cgroups,
// `extra` pids and every holder of `socket_inodes`, repeating until none is left, and waits
// for them to be gone. Returns how many processes were signalled.
std::size_t end_userspace(const UserspaceConfig& config, const std::set<ino_t>& socket_inodes,
                          const std::set<pid_t>& extra, std::chrono::milliseconds timeout);

// Starts `command` with /bin/sh in a new session (so its process group can be ended),
// with LUO_MODEL_ROOT and LUO_MODEL_BOOT in its environment. Returns its pid.
pid_t start_init(const std::string& command, const std::filesystem::path& root, std::uint64_t boot_number);

}  // namespace luo::kmodel
