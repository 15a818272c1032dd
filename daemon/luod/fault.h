// SPDX-License-Identifier: Apache-2.0
// Fault points for crash tests: with LUOD_FAULT=<name> in its environment, luod kills
// itself (SIGKILL) when it reaches that point, so a test can stop it in each window of a
// multi-step change and check that the restart loses nothing. With LUOD_FAULT_STALL=<name>
// the thread that reaches the point blocks for good instead (a system call that never
// returns, such as sync(2) on a dead file system). Costs two getenvs per point.
// Only test builds have them (CMake option LUO_FAULT_INJECTION, on with LUO_BUILD_TESTS):
// elsewhere a fault point compiles to nothing and LUOD_FAULT means nothing.
#pragma once

#include <cstddef>

namespace luod {

#if LUOD_FAULT_INJECTION
void fault_point(const char* name);
// With LUOD_FAULT_HOLD=<name>: true, and the caller holds back the work it does at that point
// until something needs it (a test sees luod in that state for as long as it asks).
bool fault_hold(const char* name);
// A test build's override of a batch size from the environment (`variable`), else `normal`.
std::size_t tuned_for_tests(const char* variable, std::size_t normal);
#else
inline void fault_point(const char* /*name*/) {}
inline bool fault_hold(const char* /*name*/)
{
    return false;
}
inline std::size_t tuned_for_tests(const char* /*variable*/, std::size_t normal)
{
    return normal;
}
#endif

}  // namespace luod
