// SPDX-License-Identifier: Apache-2.0
// Reading the kernel's pseudo files (under luod's --root): /proc/cmdline, sysfs flags.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace luod {

// The file's first line, "" when it cannot be read.
std::string first_line(const std::filesystem::path& path);

// Whether a boolean kernel parameter is on ("name=on|1|y|yes|true"; the last one counts);
// nullopt when the command line does not set it.
std::optional<bool> cmdline_flag(const std::string& cmdline, const std::string& name);

}  // namespace luod
