// SPDX-License-Identifier: Apache-2.0
// Fault points for crash tests: with LUOD_FAULT=<name> in its environment, luod kills
// itself (SIGKILL) when it reaches that point, so a test can stop it in each window of a
// multi-step change and check that the restart loses nothing. Costs one getenv per point.
#pragma once

namespace luod {

void fault_point(const char* name);

}  // namespace luod
