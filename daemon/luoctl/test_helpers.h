// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by luoctl's unit tests.
#pragma once

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "output.h"

namespace luo::ctl::test {

inline std::set<std::string> keys_of(const Json& object)
{
    std::set<std::string> keys;
    for (const auto& item : object.items())
        keys.insert(item.key());
    return keys;
}

inline std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);)
        lines.push_back(line);
    return lines;
}

}  // namespace luo::ctl::test
