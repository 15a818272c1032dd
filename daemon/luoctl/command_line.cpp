// SPDX-License-Identifier: Apache-2.0
#include "command_line.h"

#include <stdexcept>

#include "luo/version.h"

namespace luo::ctl {

namespace {

constexpr const char* kJsonHelp = "Print a JSON document with stable snake_case keys instead of text";

}  // namespace

CommandLine::CommandLine()
    : app_("luoctl: control luod, the Live Update Orchestrator daemon.\n\n"
           "Talks to luod (org.luod.LiveUpdate1) on the system bus; DBUS_SYSTEM_BUS_ADDRESS\n"
           "selects another bus. Run 'luoctl VERB --help' for the options of a verb.",
           "luoctl")
{
    app_.set_version_flag("--version", std::string(LUO_VERSION), "Print luoctl's version and exit");
    app_.add_flag("--json", json_, kJsonHelp);
    app_.require_subcommand(1);
    app_.get_formatter()->label("SUBCOMMAND", "VERB");
    app_.footer(exit_status_help());
}

CLI::App& CommandLine::add_verb(const std::string& name, const std::string& description, VerbFunction run)
{
    CLI::App* verb = app_.add_subcommand(name, description);
    verb->group("Verbs");
    verb->add_flag("--json", json_, kJsonHelp);
    verbs_.emplace_back(verb, std::move(run));
    return *verb;
}

void CommandLine::parse(int argc, char** argv)
{
    try {
        app_.parse(argc, argv);
    } catch (const CLI::RequiredError&) {
        if (!app_.get_subcommands().empty())
            throw;  // the verb's own arguments
        // CLI11 says "a subcommand is required" even when the user typed a verb we do not know.
        std::vector<std::string> stray = app_.remaining();
        if (stray.empty())
            throw CLI::RequiredError("A verb");
        if (stray.front().starts_with('-'))
            throw CLI::ExtrasError(stray);
        throw CLI::ExtrasError("unknown verb '" + stray.front() + "'", CLI::ExitCodes::ExtrasError);
    }
}

int CommandLine::exit(const CLI::Error& e)
{
    return app_.exit(e);
}

const VerbFunction& CommandLine::selected_verb() const
{
    for (const auto& [verb, run] : verbs_) {
        if (verb->parsed())
            return run;
    }
    throw std::logic_error("no verb selected");  // parse() rules this out
}

}  // namespace luo::ctl
