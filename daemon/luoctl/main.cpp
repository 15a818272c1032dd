// SPDX-License-Identifier: Apache-2.0
// luoctl: the command-line client of luod. Parses the command line, runs the selected verb and
// turns every failure into one line on stderr and the documented exit code (exit_codes.h).
#include <sdbus-c++/Error.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "command_line.h"
#include "exit_codes.h"
#include "luod_client.h"
#include "verbs.h"

namespace {

using luo::ctl::CommandError;
using luo::ctl::ExitCode;

int report(std::string_view what_failed, std::string_view message, std::string_view error_name, ExitCode code)
{
    std::cerr << luo::ctl::error_line(what_failed, message, error_name) << '\n';
    return static_cast<int>(code);
}

int run_luoctl(int argc, char** argv)
{
    luo::ctl::CommandLine command_line;
    luo::ctl::register_verbs(command_line);
    try {
        command_line.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return command_line.exit(e);  // --help, --version: printed on stdout
    } catch (const CLI::ParseError& e) {
        return report("invalid command line", std::string(e.what()) + "; see 'luoctl --help'", "",
                      ExitCode::usage);
    }

    luo::ctl::LuodClient luod;
    luo::ctl::VerbResult result;
    try {
        result = command_line.selected_verb()({command_line.json(), luod});
    } catch (const CommandError& e) {
        return report(e.what_failed(), e.message(), e.error_name(), e.exit_code());
    } catch (const sdbus::Error& e) {
        // luod_client.cpp wraps its calls; this only catches what slipped past it.
        return report("D-Bus call failed", e.getMessage(), e.getName(),
                      luo::ctl::exit_code_for_error(e.getName()));
    }

    std::cout << result.output << std::flush;
    if (!std::cout)
        return report("cannot write the output", std::strerror(errno), "", ExitCode::failure);
    if (!result.error_line.empty())
        std::cerr << result.error_line << '\n';
    return result.command_exit_status.value_or(static_cast<int>(result.exit_code));
}

}  // namespace

int main(int argc, char** argv)
{
    // Nothing may escape: every failure is one line on stderr and a documented exit code.
    try {
        return run_luoctl(argc, argv);
    } catch (const std::exception& e) {
        return report("internal error", e.what(), "", ExitCode::failure);
    } catch (...) {
        return report("internal error", "unknown exception", "", ExitCode::failure);
    }
}
