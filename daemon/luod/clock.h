// SPDX-License-Identifier: Apache-2.0
// The wall clock as luod records it: CLOCK_REALTIME in microseconds (the manifest's times,
// the update report's phases).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace luod {

inline std::uint64_t realtime_usec()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

}  // namespace luod

namespace luod {

// How long each step of luod's start took (the debug log says it; bench-blackout reads it),
// and the CPU time luod used meanwhile: on a busy machine the steps' wall time is mostly
// waiting, and the CPU time tells luod's own work apart.
class StartupClock {
public:
    void lap(const char* step)
    {
        auto now = std::chrono::steady_clock::now();
        text_ += (text_.empty() ? "" : ", ") + std::string(step) + " " +
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count()) + " us";
        last_ = now;
    }
    // The steps, then the CPU time (user and system, every thread) since the clock started.
    [[nodiscard]] std::string text() const
    {
        return text_ + "; cpu " + std::to_string(cpu_usec() - cpu_start_) + " us";
    }

private:
    static std::int64_t cpu_usec()
    {
        rusage ru{};
        ::getrusage(RUSAGE_SELF, &ru);
        return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    }
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    std::int64_t cpu_start_ = cpu_usec();
    std::string text_;
};

}  // namespace luod
