// SPDX-License-Identifier: Apache-2.0
// The wall clock as luod records it: CLOCK_REALTIME in microseconds (the manifest's times,
// the update report's phases).
#pragma once

#include <chrono>
#include <cstdint>

namespace luod {

inline std::uint64_t realtime_usec()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

}  // namespace luod
