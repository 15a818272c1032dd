// SPDX-License-Identifier: Apache-2.0
// Kernel errors (luo::Error) in the terms of luod's API: which ApiError a failed request
// becomes, by the request that failed (kernel-abi.md §1.5 lists the errnos).
#pragma once

#include <string>

#include "luo/error.h"

namespace luod {

// "EBUSY (Device or resource busy)".
std::string errno_text(const luo::Error& e);

// Opening /dev/liveupdate found it busy even after DeviceAccess's retries: DeviceUnavailable,
// naming the holder (the open's message carries it).
[[noreturn]] void fail_device_busy(const luo::Error& e, const std::string& request);

// Each throws ApiError.
[[noreturn]] void fail_create(const luo::Error& e, const std::string& name);
[[noreturn]] void fail_preserve(const luo::Error& e, const std::string& label, const std::string& description);

}  // namespace luod
