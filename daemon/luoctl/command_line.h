// SPDX-License-Identifier: Apache-2.0
// luoctl's command line: the top-level CLI11 app with its global options and exit-status
// footer, and the table of verbs. A verb is a function taking a VerbContext, registered with
// add_verb(); see verbs.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exit_codes.h"
#include "luod_client.h"

namespace luo::ctl {

// What a verb gets to work with.
struct VerbContext {
    bool json = false;  // print a JSON document with stable keys instead of text
    LuodClient& luod;
};

// What a verb hands back: printed on stdout only once the verb ran to its end, so that a failure
// leaves stdout empty (fleet agents parse it). Failures are thrown as CommandError. A verb whose
// result is itself a failure ('check' with a failed check, 'update --wait' of a failed update)
// returns its output with a non-zero exit code and the one-line reason for stderr.
struct VerbResult {
    VerbResult() = default;
    // Not explicit: a verb that only prints returns its text.
    VerbResult(std::string text) : output(std::move(text)) {}  // NOLINT(google-explicit-constructor)

    std::string output;
    ExitCode exit_code = ExitCode::success;
    std::string error_line;  // printed on stderr after the output when not empty (no newline)
    // 'inhibit' exits with its command's status, which exit_code cannot express.
    std::optional<int> command_exit_status;
};

using VerbFunction = std::function<VerbResult(const VerbContext&)>;

class CommandLine {
public:
    CommandLine();
    CommandLine(const CommandLine&) = delete;
    CommandLine& operator=(const CommandLine&) = delete;

    // Adds a verb (a subcommand with its own --json flag) that runs `run` when selected. Returns
    // the subcommand so that the verb can add its options and arguments.
    CLI::App& add_verb(const std::string& name, const std::string& description, VerbFunction run);

    // Throws CLI::ParseError (CLI::Success for --help and --version).
    void parse(int argc, char** argv);

    // For CLI11's own reporting of --help and --version; returns the exit code.
    int exit(const CLI::Error& e);

    bool json() const { return json_; }
    // The verb the parsed command line selected (parse() requires one, so there always is one).
    const VerbFunction& selected_verb() const;

private:
    CLI::App app_;
    bool json_ = false;  // the global flag and every verb's flag write here
    std::vector<std::pair<const CLI::App*, VerbFunction>> verbs_;
};

}  // namespace luo::ctl
