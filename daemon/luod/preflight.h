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
#include "string_table.h"
#include "update_records.h"
#include "update_strategy.h"

namespace luod {

// The checks, by the id Check() reports.
enum class CheckId { device, running_cmdline, kernel_loaded, next_cmdline, limits, freezable, pending_files, incoming, strategy, inhibitors };
inline constexpr luo::StringTable<CheckId, 10> kCheckIds{{{
    {CheckId::device, "device"},
    {CheckId::running_cmdline, "running-cmdline"},
    {CheckId::kernel_loaded, "kernel-loaded"},
    {CheckId::next_cmdline, "next-cmdline"},
    {CheckId::limits, "limits"},
    {CheckId::freezable, "freezable"},
    {CheckId::pending_files, "pending-files"},
    {CheckId::incoming, "incoming"},
    {CheckId::strategy, "strategy"},
    {CheckId::inhibitors, "inhibitors"},
}}};
inline std::string_view to_string(CheckId id) { return kCheckIds.name(id); }

using luo::update::Verdict;

struct CheckResult {
    CheckId id;
    Verdict verdict;
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
    std::function<Strategy()> strategy;
    // Who asks. Root gets every detail; others the same verdicts, with details that name only
    // their own sessions and count nothing of others'.
    Caller viewer;
};

std::vector<CheckResult> preflight_checks(const UpdateFacts& facts);

}  // namespace luod
