// SPDX-License-Identifier: Apache-2.0
#include "userspace.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "luo/unique_fd.h"

namespace luo::kmodel {

namespace {

std::vector<pid_t> all_pids()
{
    std::vector<pid_t> pids;
    DIR* dir = ::opendir("/proc");
    if (!dir)
        return pids;
    while (dirent* e = ::readdir(dir)) {
        char* end;
        long pid = std::strtol(e->d_name, &end, 10);
        if (*end == '\0' && pid > 0)
            pids.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(dir);
    return pids;
}

bool holds_any(pid_t pid, const std::set<ino_t>& inodes)
{
    std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = ::opendir(fd_dir.c_str());
    if (!dir)
        return false;
    bool found = false;
    char target[64];
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.')
            continue;
        ssize_t n = ::readlinkat(::dirfd(dir), e->d_name, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long ino;
        if (std::sscanf(target, "socket:[%lu]", &ino) == 1 && inodes.count(static_cast<ino_t>(ino))) {
            found = true;
            break;
        }
    }
    ::closedir(dir);
    return found;
}

// Every process in the cgroup and its descendants (a container's processes live in
// sub-cgroups of the one it was started in).
std::set<pid_t> cgroup_members(const std::filesystem::path& cgroup)
{
    std::set<pid_t> pids;
    std::error_code ec;
    auto read_procs = [&](const std::filesystem::path& dir) {
        std::ifstream in(dir / "cgroup.procs");
        for (pid_t pid; in >> pid;)
            pids.insert(pid);
    };
    read_procs(cgroup);
    for (auto it = std::filesystem::recursive_directory_iterator(cgroup, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_directory(ec))
            read_procs(it->path());
    return pids;
}

// cgroup v2 kills a whole subtree at once; elsewhere the members are killed one by one.
void kill_cgroup(const std::filesystem::path& cgroup)
{
    std::ofstream kill(cgroup / "cgroup.kill");
    if (kill)
        kill << "1\n";
}

void run_hook(const std::string& hook)
{
    pid_t pid = ::fork();
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", hook.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    if (pid < 0) {
        spdlog::warn("reboot hook: fork: {}", std::strerror(errno));
        return;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        spdlog::warn("reboot hook '{}' failed (status {:#x})", hook, status);
}

}  // namespace

std::set<pid_t> processes_holding(const std::set<ino_t>& socket_inodes)
{
    std::set<pid_t> holders;
    if (socket_inodes.empty())
        return holders;
    pid_t self = ::getpid();
    for (pid_t pid : all_pids())
        if (pid != self && holds_any(pid, socket_inodes))
            holders.insert(pid);
    return holders;
}

std::size_t end_userspace(const UserspaceConfig& config, const std::set<ino_t>& socket_inodes,
                          const std::set<pid_t>& extra, std::chrono::milliseconds timeout)
{
    if (!config.reboot_hook.empty())
        run_hook(config.reboot_hook);
    pid_t self = ::getpid();
    std::size_t signalled = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<UniqueFd> pidfds;
    for (int round = 0;; ++round) {
        std::set<pid_t> victims = processes_holding(socket_inodes);
        if (round == 0)
            victims.insert(extra.begin(), extra.end());
        for (const auto& cg : config.cgroups) {
            kill_cgroup(cg);
            auto members = cgroup_members(cg);
            victims.insert(members.begin(), members.end());
        }
        for (pid_t pgid : config.process_groups)
            ::kill(-pgid, SIGKILL);
        victims.erase(self);
        victims.erase(0);
        for (pid_t spared : config.spared)
            victims.erase(spared);
        if (victims.empty())
            break;
        for (pid_t pid : victims) {
            UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
            if (::kill(pid, SIGKILL) == 0) {
                ++signalled;
                if (pidfd)
                    pidfds.push_back(std::move(pidfd));
            }
        }
        // Wait for them to be gone, so their fds are closed before the next kernel runs.
        for (auto& pidfd : pidfds) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd p{pidfd.get(), POLLIN, 0};
            if (left.count() > 0)
                ::poll(&p, 1, static_cast<int>(left.count()));
        }
        pidfds.clear();
        if (std::chrono::steady_clock::now() > deadline) {
            spdlog::warn("processes still holding model files after {} ms", timeout.count());
            break;
        }
        if (round > 50)
            break;
    }
    return signalled;
}

pid_t start_init(const std::string& command, const std::filesystem::path& root, std::uint64_t boot_number)
{
    pid_t pid = ::fork();
    if (pid != 0)
        return pid;
    ::setsid();
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::setenv("LUO_MODEL_ROOT", root.c_str(), 1);
    ::setenv("LUO_MODEL_BOOT", std::to_string(boot_number).c_str(), 1);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
}

}  // namespace luo::kmodel
