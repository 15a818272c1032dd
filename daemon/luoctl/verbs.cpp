// SPDX-License-Identifier: Apache-2.0
#include "verbs.h"

#include <memory>
#include <string>

#include "output.h"

namespace luo::ctl {

namespace {

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

}  // namespace

void register_verbs(CommandLine& command_line)
{
    register_status(command_line);
    register_sessions(command_line);
    register_session(command_line);
}

}  // namespace luo::ctl
