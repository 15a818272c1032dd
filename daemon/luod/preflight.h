// SPDX-License-Identifier: Apache-2.0
// The pre-flight checks of an update (Manager.Check, and every Update before it starts):
// what luod can tell in advance about whether the kernel will carry every session. Each
// check has an id, a verdict and a detail for people; a "fail" refuses the update unless
// it is forced. Reads state, changes nothing.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "device_access.h"
#include "inhibitors.h"
#include "session_registry.h"

namespace luod {

struct CheckResult {
    std::string id;
    std::string verdict;  // "pass", "warn", "fail"
    std::string detail;
};

// What the checks look at.
struct UpdateFacts {
    const DeviceAccess& device;
    const SessionRegistry& sessions;
    const Inhibitors& inhibitors;
    bool kexec_loaded = false;
    const std::optional<std::string>& loaded_cmdline;  // nullopt: loaded outside luod, or not at all
    // The strategy the update would use; throws ApiError when none can be used.
    std::function<std::string()> strategy;
};

std::vector<CheckResult> preflight_checks(const UpdateFacts& facts);

}  // namespace luod
