// SPDX-License-Identifier: Apache-2.0
// The update's delay timeout (luoctl update --timeout S, the Update option DelayTimeoutUSec),
// checked by one rule on both sides so that luoctl refuses exactly what luod would, and
// durations written for people in seconds, the unit of luoctl and luod.conf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace luo::update {

// The longest wait for delay inhibitors: a day. 0 is allowed (fail at once if any is held).
inline constexpr std::uint64_t kMaxDelayTimeoutUSec = 86400ULL * 1000 * 1000;

// What is wrong with a delay timeout, in the unit it was given in; nullopt when it is fine.
std::optional<std::string> delay_timeout_problem_usec(std::uint64_t usec);
std::optional<std::string> delay_timeout_problem_seconds(double seconds);
// Seconds to microseconds, rounded to the nearest (call after the check above).
std::uint64_t seconds_to_usec(double seconds);

// "0.3 s", "30 s", "1.25 s": microseconds as seconds, without trailing zeros.
std::string seconds_text(std::uint64_t usec);

}  // namespace luo::update
