// SPDX-License-Identifier: Apache-2.0
// Test harness: real luo-kernel-model processes on private roots, forked "userspace"
// children, memfd and fd-count helpers. The harness plays the part of the world outside
// the modelled machine, so it must not hold model fds across a model kexec (it would be
// ended with the rest of userspace): work that must die at the kexec runs in children.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "luo/error.h"
#include "luo/unique_fd.h"

namespace luo::test {

// The errno a call fails with (a luo::Error), or 0 when it succeeds.
template <typename F>
int errno_of(F&& f)
{
    try {
        f();
        return 0;
    } catch (const Error& e) {
        return e.errno_value();
    }
}

class TempDir {
public:
    explicit TempDir(std::string_view prefix = "luo-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

struct ModelOptions {
    ModelOptions(std::string profile_name = "7.2", std::string kernel_cmdline = "kho=on liveupdate=on",
                 std::vector<std::string> extra = {})
        : profile(std::move(profile_name)), cmdline(std::move(kernel_cmdline)), extra_args(std::move(extra))
    {
    }
    std::string profile;
    std::string cmdline;
    std::vector<std::string> extra_args;  // e.g. {"--max-blocks", "2"}
    // The test process plays the service manager (it holds luod's fd store): spare it at
    // kexecs (--spare-pid), and give the machine a cgroup whose processes the kexec ends.
    bool machine = false;
};

// A cgroup v2 directory of the test's own, removed at the end.
class Cgroup {
public:
    Cgroup();  // throws when no cgroup2 hierarchy is mounted
    ~Cgroup();
    Cgroup(const Cgroup&) = delete;
    Cgroup& operator=(const Cgroup&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    void add(pid_t pid) const;

private:
    std::filesystem::path path_;
};

// A luo-kernel-model process serving a fresh root. Stopped (SIGTERM) on destruction.
class ModelProcess {
public:
    explicit ModelProcess(ModelOptions options = {});
    ~ModelProcess();
    ModelProcess(const ModelProcess&) = delete;
    ModelProcess& operator=(const ModelProcess&) = delete;

    [[nodiscard]] const std::filesystem::path& root() const { return root_.path(); }
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::string boot_id() const;
    // The model's stderr so far (its log).
    [[nodiscard]] std::string log() const;

    // Writes a model kernel image for `profile` and loads it with kexec_file_load.
    void load_kernel(const std::string& profile = "7.2", const std::string& cmdline = "kho=on liveupdate=on");
    // reboot(LINUX_REBOOT_CMD_KEXEC) from a child process (the caller of reboot() does not
    // survive it). Returns 0 once the next kernel has booted, or -errno if reboot failed.
    int kexec_reboot();
    // Waits until a boot other than `previous` is up; returns the new boot id.
    std::string wait_for_boot(const std::string& previous);
    // Whether the model process still runs (it must survive every test).
    [[nodiscard]] bool alive() const;
    // With ModelOptions::machine: starts `args` inside the simulated machine (its cgroup),
    // so the next kexec ends it. Output goes to `log`. Returns its pid.
    pid_t start_in_machine(const std::vector<std::string>& args, const std::vector<std::string>& env,
                           const std::filesystem::path& log) const;
    // Moves a (forked) process into the simulated machine.
    void enter_machine(pid_t pid) const;

    // Open fds of the model process, counted by the model itself while it serves a
    // request, so that earlier requests are complete (see the model's status "open_fds").
    [[nodiscard]] std::size_t fd_count() const;

private:
    TempDir root_;
    TempDir scratch_;
    std::unique_ptr<Cgroup> machine_;
    pid_t pid_ = -1;
};

// Forks; the child runs `body` and exits with its return value (exceptions: 99).
pid_t spawn(std::function<int()> body);
// For a child that must live until something ends it (e.g. the model's kexec).
[[noreturn]] void sleep_forever();
// Waits for a child: its exit status, or 128 + signal.
int wait_exit(pid_t pid);
// Runs `body` in a child and waits for it.
int run_in_child(std::function<int()> body);

// A pipe to wait for a child's "ready" byte.
class ReadySignal {
public:
    ReadySignal();
    void notify();  // in the child
    // In the parent: true when the byte arrived; false on EOF (the child died first) or
    // after `limit` (a guard against hangs when another child inherited the pipe).
    bool wait(std::chrono::seconds limit = std::chrono::seconds(120));

private:
    UniqueFd read_, write_;
};

// In a forked child: applies `env` ("NAME=value"), closes every fd above `keep_fds` (so the
// program holds nothing of the test's), and executes `args` (args[0] a path).
[[noreturn]] void exec_program(const std::vector<std::string>& args, const std::vector<std::string>& env,
                               int keep_fds = 3);

// A program run to completion, with what it printed.
struct ProgramResult {
    int status = -1;  // exit status, or 128 + signal
    std::string out;
    std::string err;
};
// Runs `args` (args[0] a path) with extra environment entries ("NAME=value").
ProgramResult run_program(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// The same in the background: finish() waits for it and collects its output.
class BackgroundProgram {
public:
    BackgroundProgram(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
    ~BackgroundProgram();
    ProgramResult finish();
    // Ends it and everything it started (its own process group).
    ProgramResult terminate();

private:
    TempDir dir_;
    pid_t pid_ = -1;
};

UniqueFd make_memfd(std::string_view name, std::string_view content = {}, unsigned flags = 0);
std::string read_all(int fd, off_t from = 0);
std::size_t count_fds(pid_t pid);
// How many of its fds point at a file whose name starts with `target_prefix`.
std::size_t count_fds_to(pid_t pid, std::string_view target_prefix);
void raise_fd_limit(std::size_t wanted);
// Path to a built program (luo-kernel-model, luod, ...), from the build tree.
std::filesystem::path built_program(std::string_view name);

// A copy of a built program, with the build tree's shared libraries it loads, in a directory
// every user can reach, for running it as another uid: the build tree may sit below a
// directory closed to others (a clone in a 0700 home), where exec would fail with EACCES.
class ReachableProgram {
public:
    explicit ReachableProgram(std::string_view name);
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    // The environment entry that makes the copy load the copied libraries.
    [[nodiscard]] std::string library_path() const { return "LD_LIBRARY_PATH=" + dir_.path().native(); }

private:
    TempDir dir_;
    std::filesystem::path path_;
};

}  // namespace luo::test
