// SPDX-License-Identifier: Apache-2.0
// Running a command while luoctl holds something for it (the inhibitor lock of 'luoctl
// inhibit'): fork + execvp, wait, the shell's exit status convention. No D-Bus here, so it is
// unit-tested with real child processes.
#pragma once

#include <string>
#include <vector>

namespace luo::ctl {

// How the command ended.
struct CommandExit {
    int exit_status = 0;  // as a shell reports it: the exit code, or 128+N when signal N killed it
    int signal = 0;       // N when a signal killed it, else 0
};

// Marks `fd` close-on-exec, so that no command luoctl runs inherits it. Throws CommandError.
void set_close_on_exec(int fd);

// Runs argv[0] (looked up in PATH like the shell does) with the arguments argv, with luoctl's
// stdin, stdout, stderr and environment, and waits for it to end. Meanwhile luoctl ignores
// SIGINT and SIGQUIT, like system(3): the terminal sends them to the command too, and luoctl
// must outlive it to release what it holds and report its status; the command gets luoctl's
// original handling of both. File descriptors marked close-on-exec are not inherited.
// Throws CommandError: ExitCode::cannot_run when the command cannot be executed (not found, not
// executable...), ExitCode::failure when no process can be started or waited for.
// With `stdout_to_stderr`, the command's standard output goes to luoctl's standard error, so
// that luoctl's own stdout carries only its document ('inhibit --json').
CommandExit run_command(const std::vector<std::string>& argv, bool stdout_to_stderr = false);

// A waitpid() status in the shell's convention: the exit code, or 128+N for signal N.
int shell_exit_status(int wait_status);

}  // namespace luo::ctl
