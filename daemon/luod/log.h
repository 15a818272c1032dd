// SPDX-License-Identifier: Apache-2.0
// luod's logging: spdlog, to the journal with structured fields when running under systemd
// (LUO_SESSION=, LUO_OWNER_UID=, ... next to MESSAGE=), to stderr otherwise with the same
// fields appended as text. Fields come from the log::Fields in scope on this thread:
//     log::Fields f{{"LUO_SESSION", name}};
//     spdlog::info("session created");
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace luod::log {

// Sets up the default logger for `program` at `level`.
void setup(const std::string& program, const std::string& level);

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
