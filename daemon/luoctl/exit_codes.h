// SPDX-License-Identifier: Apache-2.0
// luoctl's exit status contract and its one-line error reports. Pure: no D-Bus here, so the
// mapping is unit-tested and the help text is generated from the same table as the codes.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace luo::ctl {

enum class ExitCode : int {
    success = 0,
    failure = 1,          // luod reported an error not listed below
    usage = 2,            // the command line did not parse
    unreachable = 3,      // no system bus, or luod did not answer
    access_denied = 4,
    no_such_session = 5,
    checks_failed = 6,    // pre-flight checks failed
    update_failed = 7,    // the update failed or was cancelled (or its end was not seen in time)
    busy = 8,             // an update is in progress or a block inhibitor is held
    sessions_lost = 9,    // the last live update's report says a session did not reach its owner
    cannot_run = 127,     // luoctl inhibit: the command could not be executed (as in the shell)
};

// The exit code for a D-Bus error name; unknown names are ExitCode::failure.
ExitCode exit_code_for_error(std::string_view error_name);

// The "Exit status:" block for the top-level --help footer.
std::string exit_status_help();

// The text luoctl shows for an AccessDenied when the caller is not root: "needs root", and
// why. The bus's own refusal ("Rejected send message, ... policy ...") is replaced, luod's
// message ("only root may ...") kept after it.
std::string needs_root_text(std::string_view message);

// "luoctl: <what failed>: <message> (<error name>)" without a trailing newline. Line breaks in
// the parts are flattened so that a report is always exactly one line; the parenthesised name
// is left out when there is none (a local failure rather than a D-Bus error).
std::string error_line(std::string_view what_failed, std::string_view message, std::string_view error_name);

// A failed command, carrying what the user needs to see and the exit code to return.
class CommandError : public std::runtime_error {
public:
    CommandError(std::string what_failed, std::string message, std::string error_name, ExitCode exit_code);

    // A D-Bus error: the exit code follows from the error name.
    static CommandError from_dbus(std::string what_failed, std::string message, std::string error_name);

    const std::string& what_failed() const noexcept { return what_failed_; }
    const std::string& message() const noexcept { return message_; }
    const std::string& error_name() const noexcept { return error_name_; }
    ExitCode exit_code() const noexcept { return exit_code_; }
    std::string line() const { return error_line(what_failed_, message_, error_name_); }

private:
    std::string what_failed_;
    std::string message_;
    std::string error_name_;
    ExitCode exit_code_;
};

}  // namespace luo::ctl
