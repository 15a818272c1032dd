// SPDX-License-Identifier: Apache-2.0
// Catch2 2 (Debian 12) and 3 (Debian 13, sid) for the test programs: the test files include
// this instead of Catch2's own header and use the names below where the versions differ.
// cmake/LuoCatch2.cmake defines LUO_CATCH2_MAJOR.
#pragma once

#include <string>

#if LUO_CATCH2_MAJOR >= 3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

namespace luo_catch {

// Matches a string that contains `part` (Catch2 2: Catch::Contains; 3: ContainsSubstring).
inline auto contains(const std::string& part)
{
#if LUO_CATCH2_MAJOR >= 3
    return Catch::Matchers::ContainsSubstring(part);
#else
    return Catch::Matchers::Contains(part);
#endif
}

}  // namespace luo_catch
