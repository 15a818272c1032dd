// SPDX-License-Identifier: Apache-2.0
// The wall clock as luod records it: CLOCK_REALTIME in microseconds (the manifest's times,
// the update report's phases).
#pragma once

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

// How long each step of luod's start took (the debug log says it; bench-blackout reads it).
class StartupClock {
public:
    void lap(const char* step)
    {
        auto now = std::chrono::steady_clock::now();
        text_ += (text_.empty() ? "" : ", ") + std::string(step) + " " +
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count()) + " us";
        last_ = now;
    }
    [[nodiscard]] const std::string& text() const { return text_; }

private:
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    std::string text_;
};

}  // namespace luod
