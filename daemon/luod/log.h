// SPDX-License-Identifier: Apache-2.0
// luod's logging: spdlog, to the journal with structured fields when running under systemd
// (LUO_SESSION=, LUO_OWNER_UID=, ... next to MESSAGE=), to stderr otherwise with the same
// fields appended as text. Fields come from the log::Fields in scope on this thread:
//     log::Fields f{{"LUO_SESSION", name}};
//     spdlog::info("session created");
#pragma once

#include <spdlog/common.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace luod::log {

// Sets up the default logger for `program` at `level`.
void setup(const std::string& program, const std::string& level);

// What LogControl1 changes while luod runs (dbus_log_control.h).
// The syslog names systemd uses for levels ("emerg" ... "debug"); nullopt for any other name.
std::optional<spdlog::level::level_enum> level_from_syslog_name(std::string_view name);
// The syslog name of a level ("debug" for trace too).
std::string_view syslog_name_of(spdlog::level::level_enum level);
void set_level(spdlog::level::level_enum level);

enum class Target { console, journal, null };
// "console", "journal", "null"; "auto" is the journal when stderr is connected to it, else the
// console. nullopt for any other name.
std::optional<Target> target_from_name(std::string_view name);
std::string_view name_of(Target target);
// Replaces the default logger's sink, keeping its name and level.
void set_target(Target target);
Target current_target();

class Fields {
public:
    Fields(std::initializer_list<std::pair<std::string, std::string>> fields);
    ~Fields();
    Fields(const Fields&) = delete;
    Fields& operator=(const Fields&) = delete;

private:
    std::size_t added_;
};

// The fields in scope, outermost first.
const std::vector<std::pair<std::string, std::string>>& current_fields();

}  // namespace luod::log
