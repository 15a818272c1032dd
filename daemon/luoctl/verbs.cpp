// SPDX-License-Identifier: Apache-2.0
#include "verbs.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

#include "child_process.h"
#include "durations.h"
#include "luo/dbus_api.h"
#include "metrics.h"
#include "output.h"
#include "update_report.h"

namespace luo::ctl {

namespace {

// 'update --wait' reads luod's state this often, and gives up after this long.
constexpr std::chrono::milliseconds kFollowInterval{100};
constexpr std::chrono::minutes kFollowLimit{30};

// The delay timeout in seconds, by luod's own rule (durations.h): what passes here, luod takes.
CLI::Validator delay_timeout_seconds()
{
    return CLI::Validator(
        [](std::string& value) {
            double parsed = 0;
            if (!CLI::detail::lexical_cast(value, parsed))
                return std::string("must be a number of seconds, 0 or more");
            return update::delay_timeout_problem_seconds(parsed).value_or("");
        },
        "", "seconds");
}

CLI::Validator not_empty()
{
    return CLI::Validator(
        [](std::string& value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "",
        "not empty");
}

// luoctl status
VerbResult run_status(const VerbContext& context)
{
    ManagerStatus status = context.luod.status();
    return {context.json ? json_text(status_json(status)) : status_text(status)};
}

void register_status(CommandLine& command_line)
{
    command_line.add_verb("status",
                          "Show luod's version, backend, state, kernel state and features, whether a\n"
                          "kernel is loaded, session counts and the number of live updates so far",
                          run_status);
}

// luoctl sessions
VerbResult run_sessions(const VerbContext& context)
{
    std::vector<SessionSummary> sessions = context.luod.list_sessions();
    return {context.json ? json_text(sessions_json(sessions)) : sessions_text(sessions)};
}

void register_sessions(CommandLine& command_line)
{
    command_line.add_verb("sessions",
                          "List the sessions luod holds (root sees all, other users their own):\n"
                          "name, kind (outgoing|incoming), owner uid and unit",
                          run_sessions);
}

// luoctl session NAME
VerbResult run_session(const VerbContext& context, const std::string& name)
{
    SessionDetails session = context.luod.session(name);
    return {context.json ? json_text(session_json(session)) : session_text(session)};
}

void register_session(CommandLine& command_line)
{
    // Shared with the verb function, which outlives this registration.
    auto name = std::make_shared<std::string>();
    CLI::App& verb = command_line.add_verb(
        "session", "Show one session: kind, state, owner, and its preserved files",
        [name](const VerbContext& context) { return run_session(context, *name); });
    verb.add_option("NAME", *name, "Session name")->required();
}

// luoctl load KERNEL [--initrd FILE] [--append S] [--reuse-cmdline] [--no-liveupdate-flags]
struct LoadArguments {
    std::string kernel;
    std::string initrd;
    std::string append;
    bool reuse_cmdline = false;
    bool no_liveupdate_flags = false;
};

// luod opens the files, in its own working directory: it gets absolute paths.
std::string absolute_path(const std::string& path)
{
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(path, error);
    if (error)
        throw CommandError("cannot make '" + path + "' an absolute path", error.message(), "", ExitCode::failure);
    return absolute.string();
}

VerbResult run_load(const VerbContext& context, const LoadArguments& arguments)
{
    KernelLoadRequest request;
    request.kernel = absolute_path(arguments.kernel);
    request.initrd = arguments.initrd.empty() ? std::string() : absolute_path(arguments.initrd);
    request.cmdline = arguments.append;
    request.reuse_cmdline = arguments.reuse_cmdline;
    request.no_liveupdate_flags = arguments.no_liveupdate_flags;
    std::string loaded = context.luod.load_kernel(request);
    return {context.json ? json_text(kernel_loaded_json(request, loaded))
                         : "kernel loaded with command line: " + terminal_safe(loaded) + "\n"};
}

void register_load(CommandLine& command_line)
{
    auto arguments = std::make_shared<LoadArguments>();
    CLI::App& verb = command_line.add_verb(
        "load",
        "Load the kernel to update to (luod calls kexec_file_load(2)), adding\n"
        "\"kho=on liveupdate=on\" to its command line unless present",
        [arguments](const VerbContext& context) { return run_load(context, *arguments); });
    verb.add_option("KERNEL", arguments->kernel, "Kernel image, opened by luod (sent as an absolute path)")
        ->required()
        ->check(not_empty());
    verb.add_option("--initrd", arguments->initrd, "Initramfs, opened by luod (sent as an absolute path)")
        ->type_name("FILE")
        ->check(not_empty());
    verb.add_option("--append", arguments->append,
                    "Command line of the new kernel; with --reuse-cmdline, added to the\n"
                    "running kernel's")
        ->type_name("S");
    verb.add_flag("--reuse-cmdline", arguments->reuse_cmdline, "Use the running kernel's command line");
    verb.add_flag("--no-liveupdate-flags", arguments->no_liveupdate_flags,
                  "Add nothing to the command line (no \"kho=on liveupdate=on\")");
}

// luoctl unload
VerbResult run_unload(const VerbContext& context)
{
    context.luod.unload_kernel();
    return {context.json ? json_text(flag_json("loaded", false)) : "kernel unloaded\n"};
}

void register_unload(CommandLine& command_line)
{
    command_line.add_verb("unload", "Unload the loaded kernel", run_unload);
}

// luoctl check
VerbResult run_check(const VerbContext& context)
{
    std::vector<CheckResult> checks = context.luod.check();
    VerbResult result{context.json ? json_text(checks_json(checks)) : checks_text(checks)};
    result.error_line = checks_error_line(checks);
    if (!result.error_line.empty())
        result.exit_code = ExitCode::checks_failed;
    return result;
}

void register_check(CommandLine& command_line)
{
    command_line.add_verb("check",
                          "Run the pre-flight checks of an update and show each verdict\n"
                          "(pass|warn|fail); exit status 6 if any failed",
                          run_check);
}

// luoctl update [--dry-run] [--force] [--wait] [--timeout S] [--strategy auto|direct|systemd|orderly]
struct UpdateArguments {
    bool dry_run = false;
    bool force = false;
    bool wait = false;
    double timeout_seconds = 0;
    const CLI::Option* timeout_option = nullptr;  // given or not
    std::string strategy;
    const CLI::Option* strategy_option = nullptr;  // given or not
};

void start_update(LuodClient& luod, const UpdateRequest& request)
{
    try {
        luod.update(request);
    } catch (const CommandError& e) {
        if (e.error_name() != luo::dbus::error::kNotLoaded)
            throw;
        // luod's message may already say what to do.
        std::string hint = e.message().find("first") == std::string::npos
                               ? "; load a kernel first ('luoctl load KERNEL')"
                               : "";
        throw CommandError(e.what_failed(), e.message() + hint, e.error_name(), e.exit_code());
    }
}

// Stderr notes while following an update (people only: with --json, stderr carries just the
// final one-line reason).
void note(bool wanted, const std::string& line)
{
    if (wanted)
        std::cerr << line << std::endl;
}

// Polls luod until the update started after `before` was read has ended, through the restart
// of the bus and luod that a live update is; returns what luod reported then.
UpdateProgress follow_update(const UpdateProgress& before, bool notes)
{
    const bool terminal = ::isatty(STDERR_FILENO) == 1;
    std::string last_state = before.state;
    const auto deadline = std::chrono::steady_clock::now() + kFollowLimit;
    bool answering = true;
    std::string silence;  // why luod last did not answer
    for (;;) {
        std::this_thread::sleep_for(kFollowInterval);
        try {
            UpdateProgress now = LuodClient::update_progress_on_new_connection();
            if (!answering)
                note(notes, "luoctl: luod answers again");
            answering = true;
            if (std::string line = progress_line(last_state, now.state, terminal); !line.empty())
                note(notes, line);
            last_state = now.state;
            if (update_ended(before, now))
                return now;
        } catch (const CommandError& e) {
            if (!luod_not_answering(e))
                throw;
            if (answering)
                note(notes, error_line("luod is not answering", e.message() + "; waiting for it", e.error_name()));
            answering = false;
            silence = e.message();
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            std::string why = answering ? "luod reported no end of the update within 30 minutes"
                                        : "luod did not answer again within 30 minutes (" + silence + ")";
            throw CommandError("cannot follow the update", why, "", ExitCode::update_failed);
        }
    }
}

VerbResult run_update(const VerbContext& context, const UpdateArguments& arguments)
{
    UpdateRequest request;
    request.dry_run = arguments.dry_run;
    request.force = arguments.force;
    if (arguments.timeout_option->count() > 0)
        request.delay_timeout_usec = update::seconds_to_usec(arguments.timeout_seconds);
    if (arguments.strategy_option->count() > 0)
        request.strategy = arguments.strategy;

    if (!arguments.wait) {
        start_update(context.luod, request);
        return {context.json ? json_text(flag_json("started", true)) : "update started\n"};
    }

    const bool notes = !context.json;
    UpdateProgress before = context.luod.update_progress();
    try {
        start_update(context.luod, request);
    } catch (const CommandError& e) {
        // The request may have reached luod before the bus went down: what happened shows
        // when luod answers again.
        if (!update_may_have_started(e.error_name()))
            throw;
        note(notes, error_line("lost luod while starting the update", e.message() + "; following it", e.error_name()));
    }
    context.luod.disconnect();  // dead after the update; follow_update() connects anew each time

    Json report = report_object(follow_update(before, notes).last_update);
    VerbResult result{context.json ? json_text(report) : report_text(report)};
    result.exit_code = exit_code_for_result(report_result(report));
    result.error_line = outcome_error_line(report);
    return result;
}

void register_update(CommandLine& command_line)
{
    auto arguments = std::make_shared<UpdateArguments>();
    CLI::App& verb = command_line.add_verb(
        "update",
        "Start the live update to the loaded kernel: checks, PrepareForUpdate,\n"
        "the wait for delay inhibitors, then the reboot",
        [arguments](const VerbContext& context) { return run_update(context, *arguments); });
    verb.add_flag("--dry-run", arguments->dry_run,
                  "Run the checks and the barrier, then stop (LastUpdate result \"dry-run\")");
    verb.add_flag("--force", arguments->force, "Proceed despite failed checks and block inhibitors");
    verb.add_flag("--wait", arguments->wait,
                  "Follow the update to its end (across the restart of the bus and luod,\n"
                  "30 minutes at most) and print its report; exit status 7 if it failed\n"
                  "or was cancelled");
    arguments->timeout_option = verb.add_option("--timeout", arguments->timeout_seconds,
                                         "Wait at most S seconds (0 to 86400) for delay inhibitors\n"
                                         "(default: luod.conf DelayTimeoutSec)")
                             ->type_name("S")
                             ->check(delay_timeout_seconds());
    arguments->strategy_option =
        verb.add_option("--strategy", arguments->strategy, "How to reboot (default: luod.conf Strategy)")
            ->type_name("S")
            ->check(CLI::IsMember({"auto", "direct", "systemd", "orderly"}));
}

// luoctl cancel
VerbResult run_cancel(const VerbContext& context)
{
    context.luod.cancel();
    return {context.json ? json_text(flag_json("cancelled", true)) : "update cancelled\n"};
}

void register_cancel(CommandLine& command_line)
{
    command_line.add_verb("cancel", "Cancel an update that is preparing; nothing is lost", run_cancel);
}

// luoctl inhibit --why S [--who W] [--mode delay|block] -- CMD [ARGS...]
struct InhibitArguments {
    std::string why;
    std::string who;
    std::string mode = "delay";
    std::vector<std::string> command;
};

VerbResult run_inhibit(const VerbContext& context, const InhibitArguments& arguments)
{
    const std::string& name = arguments.command.front();  // CLI11 requires one
    InhibitRequest request;
    request.who = arguments.who.empty() ? "luoctl inhibit: " + name : arguments.who;
    request.why = arguments.why;
    request.mode = arguments.mode;
    UniqueFd lock = context.luod.inhibit(request);  // close-on-exec: the command does not hold it
    context.luod.disconnect();  // the lock is the fd; no bus connection idles while the command runs

    std::cout.flush();
    // With --json, stdout is luoctl's document alone: the command writes to stderr.
    CommandExit exit = run_command(arguments.command, context.json);
    lock.reset();

    VerbResult result;
    if (context.json)
        result.output = json_text(command_exit_json(arguments.command, exit.exit_status));
    result.command_exit_status = exit.exit_status;
    if (exit.signal != 0)
        result.error_line = error_line("'" + name + "' was killed", "signal " + std::to_string(exit.signal), "");
    return result;
}

void register_inhibit(CommandLine& command_line)
{
    auto arguments = std::make_shared<InhibitArguments>();
    CLI::App& verb = command_line.add_verb(
        "inhibit",
        "Run a command holding an inhibitor lock (delay: an update waits for\n"
        "the command to end); exits with the command's status",
        [arguments](const VerbContext& context) { return run_inhibit(context, *arguments); });
    verb.add_option("--why", arguments->why, "Why, shown to operators")->type_name("S")->required();
    verb.add_option("--who", arguments->who, "Who, shown to operators (default: \"luoctl inhibit: CMD\")")
        ->type_name("W");
    verb.add_option("--mode", arguments->mode, "delay, or block: Update is refused meanwhile (root only)")
        ->type_name("MODE")
        ->check(CLI::IsMember({"delay", "block"}));
    verb.add_option("CMD", arguments->command, "The command and its arguments (after '--')")->required();
}

// luoctl inhibitors
VerbResult run_inhibitors(const VerbContext& context)
{
    std::vector<InhibitorEntry> inhibitors = context.luod.list_inhibitors();
    return {context.json ? json_text(inhibitors_json(inhibitors)) : inhibitors_text(inhibitors)};
}

void register_inhibitors(CommandLine& command_line)
{
    command_line.add_verb("inhibitors",
                          "List who holds inhibitor locks (root): who, mode (delay|block), uid,\n"
                          "pid, why",
                          run_inhibitors);
}

// luoctl close NAME
VerbResult run_close(const VerbContext& context, const std::string& name)
{
    context.luod.close_session(name);
    return {context.json ? json_text(flag_json("closed", true)) : "session '" + terminal_safe(name) + "' closed\n"};
}

void register_close(CommandLine& command_line)
{
    auto name = std::make_shared<std::string>();
    CLI::App& verb = command_line.add_verb(
        "close",
        "Close a session, such as a stuck one (root, or its owner): an outgoing\n"
        "session is no longer preserved, an incoming one is finished",
        [name](const VerbContext& context) { return run_close(context, *name); });
    verb.add_option("NAME", *name, "Session name")->required();
}

// luoctl report
VerbResult run_report(const VerbContext& context)
{
    Json report = report_object(context.luod.update_progress().last_update);
    VerbResult result{context.json ? json_text(report) : report_text(report)};
    // Only a loss is an error here: a failed or cancelled attempt changed nothing.
    if (exit_code_for_result(report_result(report)) == ExitCode::sessions_lost) {
        result.exit_code = ExitCode::sessions_lost;
        result.error_line = outcome_error_line(report);
    }
    return result;
}

void register_report(CommandLine& command_line)
{
    command_line.add_verb("report",
                          "Show the report of the last update attempt: result, reason, strategy,\n"
                          "phase times, blackout, each session's outcome; exit status 9 if\n"
                          "sessions were lost",
                          run_report);
}

// luoctl metrics [--output FILE]
struct MetricsArguments {
    std::string output;  // "" for stdout
};

VerbResult run_metrics(const VerbContext& context, const MetricsArguments& arguments)
{
    Metrics metrics;  // up is false until luod answered
    VerbResult result;
    try {
        metrics = metrics_from(context.luod.metrics_snapshot());
    } catch (const CommandError& e) {
        // No figures is itself a reading, luod_up 0, which must replace the last file rather
        // than leave it standing. The exit status still says why: 3 when luod did not answer
        // (also while it starts), else the error's own (a refusal, a failed bus activation).
        result.exit_code = luod_not_answering(e) ? ExitCode::unreachable : e.exit_code();
        result.error_line = e.line();
    }
    std::string text = context.json ? json_text(metrics_json(metrics)) : metrics_text(metrics);
    if (arguments.output.empty())
        result.output = std::move(text);
    else
        write_file_atomically(arguments.output, text);
    return result;
}

void register_metrics(CommandLine& command_line)
{
    auto arguments = std::make_shared<MetricsArguments>();
    CLI::App& verb = command_line.add_verb(
        "metrics",
        "Print luod's figures in the Prometheus text format 0.0.4 (updates, last\n"
        "blackout and result, sessions, files, state); only luod_up 0 if they\n"
        "cannot be read (exit status 3 if luod does not answer)",
        [arguments](const VerbContext& context) { return run_metrics(context, *arguments); });
    verb.add_option("--output", arguments->output,
                    "Write to FILE instead of stdout, atomically (FILE.tmp, then renamed),\n"
                    "e.g. for node_exporter's textfile collector")
        ->type_name("FILE")
        ->check(not_empty());
}

}  // namespace

void register_verbs(CommandLine& command_line)
{
    register_status(command_line);
    register_sessions(command_line);
    register_session(command_line);
    register_load(command_line);
    register_unload(command_line);
    register_check(command_line);
    register_update(command_line);
    register_cancel(command_line);
    register_inhibit(command_line);
    register_inhibitors(command_line);
    register_close(command_line);
    register_report(command_line);
    register_metrics(command_line);
}

}  // namespace luo::ctl
