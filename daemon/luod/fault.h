// SPDX-License-Identifier: Apache-2.0
// Fault points for crash tests: with LUOD_FAULT=<name> in its environment, luod kills
// itself (SIGKILL) when it reaches that point, so a test can stop it in each window of a
// multi-step change and check that the restart loses nothing. With LUOD_FAULT_STALL=<name>
// the thread that reaches the point blocks for good instead (a system call that never
// returns, such as sync(2) on a dead file system). Costs two getenvs per point.
// Only test builds have them (CMake option LUO_FAULT_INJECTION, on with LUO_BUILD_TESTS):
// elsewhere a fault point compiles to nothing and LUOD_FAULT means nothing.
#pragma once

namespace luod {

#if LUOD_FAULT_INJECTION
void fault_point(const char* name);
#else
inline void fault_point(const char* /*name*/) {}
#endif

}  // namespace luod
