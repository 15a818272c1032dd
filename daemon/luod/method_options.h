// SPDX-License-Identifier: Apache-2.0
// The a{sv} options of the Manager's methods, decoded and checked before anything acts on
// them. Free of the bus: dbus_service.cpp converts each variant to an OptionValue, and the
// fuzz target (tests/fuzz/method_options.cpp) reaches the same code.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "durations.h"

namespace luod {

// One option as it came over the bus: its D-Bus signature and, for the types options use
// (b, u, t, s), its value; a value of any other type carries only its signature.
struct OptionValue {
    std::string signature;
    std::variant<std::monostate, bool, std::uint32_t, std::uint64_t, std::string> value;
};
using Options = std::map<std::string, OptionValue>;

// The barrier's longest wait, as luod.conf's DelayTimeoutSec and luoctl's --timeout allow:
// one rule for all (durations.h).
using luo::update::kMaxDelayTimeoutUSec;

struct CreateSessionOptions {
    std::optional<std::uint32_t> owner_uid;  // OwnerUID (u), never (uid_t)-1
    std::optional<std::string> owner_unit;   // OwnerUnit (s): "" or a .service/.scope unit name
};

struct LoadKernelOptions {
    bool reuse_cmdline = false;        // ReuseCmdline (b)
    bool no_liveupdate_flags = false;  // NoLiveUpdateFlags (b)
};

struct UpdateOptions {
    bool dry_run = false;                                  // DryRun (b)
    bool force = false;                                    // Force (b)
    std::optional<std::chrono::microseconds> delay_timeout;  // DelayTimeoutUSec (t), at most a day
    std::string strategy;                                  // Strategy (s); "" = luod.conf Strategy
};

// Each throws ApiError(invalid_args) naming the option: an unknown key, a value of the
// wrong type or out of range. The strategy's name is the controller's to judge.
CreateSessionOptions parse_create_session_options(const Options& options);
LoadKernelOptions parse_load_kernel_options(const Options& options);
UpdateOptions parse_update_options(const Options& options);

}  // namespace luod
