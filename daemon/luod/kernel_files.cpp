// SPDX-License-Identifier: Apache-2.0
#include "kernel_files.h"

#include <fstream>
#include <sstream>

namespace luod {

std::string first_line(const std::filesystem::path& path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::optional<bool> cmdline_flag(const std::string& cmdline, const std::string& name)
{
    std::istringstream in(cmdline);
    std::optional<bool> value;
    for (std::string word; in >> word;) {
        if (word.rfind(name + "=", 0) != 0)
            continue;
        std::string v = word.substr(name.size() + 1);
        value = v == "on" || v == "1" || v == "y" || v == "Y" || v == "yes" || v == "true";
    }
    return value;
}

}  // namespace luod
