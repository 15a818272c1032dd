// SPDX-License-Identifier: Apache-2.0
#include "exit_codes.h"

#include "output.h"

#include <unistd.h>

#include <array>
#include <utility>

#include "luo/dbus_api.h"

namespace luo::ctl {

namespace {

struct ErrorExitCode {
    std::string_view error_name;
    ExitCode exit_code;
};

// Names meaning "luod did not answer": the bus could not reach or start it, or it went away.
constexpr std::array kKnownErrors{
    ErrorExitCode{"org.freedesktop.DBus.Error.ServiceUnknown", ExitCode::unreachable},
    ErrorExitCode{"org.freedesktop.DBus.Error.NameHasNoOwner", ExitCode::unreachable},
    ErrorExitCode{"org.freedesktop.DBus.Error.NoReply", ExitCode::unreachable},
    ErrorExitCode{"org.freedesktop.DBus.Error.Disconnected", ExitCode::unreachable},
    ErrorExitCode{"org.freedesktop.DBus.Error.Timeout", ExitCode::unreachable},
    ErrorExitCode{"org.freedesktop.DBus.Error.TimedOut", ExitCode::unreachable},
    ErrorExitCode{"org.freedesktop.DBus.Error.NoServer", ExitCode::unreachable},
    // sd-bus reports a connection lost mid-call by errno name.
    ErrorExitCode{"System.Error.ENOTCONN", ExitCode::unreachable},
    ErrorExitCode{"System.Error.ECONNRESET", ExitCode::unreachable},
    ErrorExitCode{"System.Error.ECONNREFUSED", ExitCode::unreachable},
    ErrorExitCode{luo::dbus::error::kAccessDenied, ExitCode::access_denied},
    ErrorExitCode{luo::dbus::error::kNoSuchSession, ExitCode::no_such_session},
    ErrorExitCode{luo::dbus::error::kChecksFailed, ExitCode::checks_failed},
    ErrorExitCode{luo::dbus::error::kUpdateInProgress, ExitCode::busy},
    ErrorExitCode{luo::dbus::error::kBlockedByInhibitor, ExitCode::busy},
};

// Bus activation failures (org.freedesktop.DBus.Error.Spawn.ChildExited, ...) mean luod could
// not be started, which is "not reachable" for the user.
constexpr std::string_view kSpawnErrorPrefix = "org.freedesktop.DBus.Error.Spawn.";

struct ExitCodeHelp {
    ExitCode exit_code;
    std::string_view meaning;
};

constexpr std::array kExitCodeHelp{
    ExitCodeHelp{ExitCode::success, "success"},
    ExitCodeHelp{ExitCode::failure, "failure reported by luod (any other D-Bus error)"},
    ExitCodeHelp{ExitCode::usage, "usage error (invalid command line)"},
    ExitCodeHelp{ExitCode::unreachable,
                 "luod not reachable (no system bus, ServiceUnknown, NameHasNoOwner, NoReply,\n"
                 "     Disconnected, Timeout)"},
    ExitCodeHelp{ExitCode::access_denied, "access denied (org.freedesktop.DBus.Error.AccessDenied)"},
    ExitCodeHelp{ExitCode::no_such_session, "no such session (org.luod.LiveUpdate1.NoSuchSession)"},
    ExitCodeHelp{ExitCode::checks_failed,
                 "pre-flight checks failed (a \"fail\" in 'check'; org.luod.LiveUpdate1.ChecksFailed)"},
    ExitCodeHelp{ExitCode::update_failed,
                 "update failed or cancelled ('update --wait'; also when no outcome is seen\n"
                 "     within 30 minutes)"},
    ExitCodeHelp{ExitCode::busy,
                 "busy (org.luod.LiveUpdate1.UpdateInProgress or BlockedByInhibitor)"},
    ExitCodeHelp{ExitCode::sessions_lost,
                 "sessions lost: the live update happened, but a session did not reach its\n"
                 "     owner (result \"sessions-lost\"; 'report', 'update --wait')"},
};

}  // namespace

ExitCode exit_code_for_error(std::string_view error_name)
{
    for (const auto& known : kKnownErrors) {
        if (known.error_name == error_name)
            return known.exit_code;
    }
    if (error_name.starts_with(kSpawnErrorPrefix))
        return ExitCode::unreachable;
    return ExitCode::failure;
}

std::string exit_status_help()
{
    std::string text = "Exit status:\n";
    for (const auto& entry : kExitCodeHelp) {
        text += "  ";
        text += std::to_string(static_cast<int>(entry.exit_code));
        text += "  ";
        text += entry.meaning;
        text += '\n';
    }
    text += "'luoctl inhibit' exits with its command's status (128+N if a signal N killed it, 127\n"
            "if it could not be run).\n";
    text += "Errors are reported on stderr as one line, also with --json:\n"
            "  luoctl: <what failed>: <D-Bus error message> (<D-Bus error name>)\n"
            "stdout is then empty, except after 'check' (6), 'update --wait' (7, 9) and 'report'\n"
            "(9), which print their results first.";
    return text;
}

std::string error_line(std::string_view what_failed, std::string_view message, std::string_view error_name)
{
    std::string line = "luoctl: ";
    line += terminal_safe(what_failed);
    line += ": ";
    line += terminal_safe(message);
    if (!error_name.empty()) {
        line += " (";
        line += terminal_safe(error_name);
        line += ')';
    }
    return line;
}

CommandError::CommandError(std::string what_failed, std::string message, std::string error_name,
                           ExitCode exit_code)
    : std::runtime_error(error_line(what_failed, message, error_name)),
      what_failed_(std::move(what_failed)),
      message_(std::move(message)),
      error_name_(std::move(error_name)),
      exit_code_(exit_code)
{
}

std::string needs_root_text(std::string_view message)
{
    // dbus-daemon's refusal by policy: nothing of it helps the user.
    if (message.starts_with("Rejected send message") || message.find("policy") != std::string_view::npos)
        return "needs root (run it as root, for example with sudo; the system bus lets only root call this)";
    return "needs root (run it as root, for example with sudo): " + std::string(message);
}

CommandError CommandError::from_dbus(std::string what_failed, std::string message, std::string error_name)
{
    ExitCode code = exit_code_for_error(error_name);
    if (code == ExitCode::access_denied && ::geteuid() != 0 &&
        (message.starts_with("Rejected send message") || message.find("only root") != std::string::npos))
        message = needs_root_text(message);
    return CommandError(std::move(what_failed), std::move(message), std::move(error_name), code);
}

}  // namespace luo::ctl
