// SPDX-License-Identifier: Apache-2.0
// CLOCK_REALTIME in microseconds: the model's boot and kexec times (status, blackout
// measurements).
#pragma once

#include <chrono>
#include <cstdint>

namespace luo::kmodel {

inline std::uint64_t realtime_usec()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

}  // namespace luo::kmodel
