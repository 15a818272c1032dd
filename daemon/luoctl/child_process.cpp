// SPDX-License-Identifier: Apache-2.0
#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exit_codes.h"
#include "luo/unique_fd.h"

namespace luo::ctl {

namespace {

[[noreturn]] void throw_errno(const std::string& what_failed, int error, ExitCode exit_code)
{
    throw CommandError(what_failed, std::strerror(error), "", exit_code);
}

// Ignores SIGINT and SIGQUIT for its lifetime, remembering the handling it replaced.
class TerminalSignalsIgnored {
public:
    TerminalSignalsIgnored()
    {
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        ::sigaction(SIGINT, &ignore, &saved_int_);
        ::sigaction(SIGQUIT, &ignore, &saved_quit_);
    }
    ~TerminalSignalsIgnored() { restore(); }
    TerminalSignalsIgnored(const TerminalSignalsIgnored&) = delete;
    TerminalSignalsIgnored& operator=(const TerminalSignalsIgnored&) = delete;

    // Async-signal-safe: also used in the child between fork and exec.
    void restore() const noexcept
    {
        ::sigaction(SIGINT, &saved_int_, nullptr);
        ::sigaction(SIGQUIT, &saved_quit_, nullptr);
    }

private:
    struct sigaction saved_int_ {};
    struct sigaction saved_quit_ {};
};

// In the child: exec, and on failure report errno through `report_fd` (close-on-exec, so a
// successful exec closes it and the parent reads end-of-file). Only async-signal-safe calls.
[[noreturn]] void exec_child(char* const* argv, int report_fd, const TerminalSignalsIgnored& signals,
                             bool stdout_to_stderr)
{
    signals.restore();
    if (stdout_to_stderr && ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        int error = errno;
        ssize_t ignored = ::write(report_fd, &error, sizeof error);
        static_cast<void>(ignored);
        ::_exit(static_cast<int>(ExitCode::cannot_run));
    }
    ::execvp(argv[0], argv);
    int error = errno;
    ssize_t ignored = ::write(report_fd, &error, sizeof error);
    static_cast<void>(ignored);
    ::_exit(static_cast<int>(ExitCode::cannot_run));
}

int wait_for(pid_t pid)
{
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            throw_errno("cannot wait for the command", errno, ExitCode::failure);
    }
    return status;
}

// The errno the child reported when its exec failed, or 0 when the exec succeeded.
int exec_error(int report_fd)
{
    int error = 0;
    for (;;) {
        ssize_t got = ::read(report_fd, &error, sizeof error);
        if (got >= 0)
            return got == static_cast<ssize_t>(sizeof error) ? error : 0;
        if (errno != EINTR)
            return 0;  // cannot tell: waitpid() will show the 127 the child exits with
    }
}

}  // namespace

void set_close_on_exec(int fd)
{
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        throw_errno("cannot mark fd " + std::to_string(fd) + " close-on-exec", errno, ExitCode::failure);
}

CommandExit run_command(const std::vector<std::string>& argv, bool stdout_to_stderr)
{
    if (argv.empty() || argv.front().empty())
        throw CommandError("cannot run the command", "no command given", "", ExitCode::cannot_run);
    const std::string& name = argv.front();

    // Everything the child needs is prepared before fork(): after it, the child may only make
    // async-signal-safe calls.
    std::vector<char*> exec_argv;
    exec_argv.reserve(argv.size() + 1);
    for (const auto& argument : argv)
        exec_argv.push_back(const_cast<char*>(argument.c_str()));
    exec_argv.push_back(nullptr);

    int report_pipe[2];
    if (::pipe2(report_pipe, O_CLOEXEC) < 0)
        throw_errno("cannot run '" + name + "'", errno, ExitCode::failure);
    UniqueFd report_read(report_pipe[0]);
    UniqueFd report_write(report_pipe[1]);

    TerminalSignalsIgnored signals;
    pid_t pid = ::fork();
    if (pid < 0)
        throw_errno("cannot run '" + name + "'", errno, ExitCode::failure);
    if (pid == 0)
        exec_child(exec_argv.data(), report_write.get(), signals, stdout_to_stderr);

    report_write.reset();
    int error = exec_error(report_read.get());
    int status = wait_for(pid);
    if (error != 0)
        throw_errno("cannot run '" + name + "'", error, ExitCode::cannot_run);

    CommandExit exit;
    exit.exit_status = shell_exit_status(status);
    if (WIFSIGNALED(status))
        exit.signal = WTERMSIG(status);
    return exit;
}

int shell_exit_status(int wait_status)
{
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return static_cast<int>(ExitCode::failure);  // stopped or continued: not an end
}

}  // namespace luo::ctl
