// SPDX-License-Identifier: Apache-2.0
#include "durations.h"

#include <cmath>

namespace luo::update {

std::optional<std::string> delay_timeout_problem_usec(std::uint64_t usec)
{
    if (usec > kMaxDelayTimeoutUSec)
        return std::to_string(usec) + " µs is more than a day (" + std::to_string(kMaxDelayTimeoutUSec) + " µs)";
    return std::nullopt;
}

std::optional<std::string> delay_timeout_problem_seconds(double seconds)
{
    if (std::isnan(seconds) || seconds < 0)
        return std::string("must be a number of seconds, 0 or more");
    if (seconds * 1e6 > static_cast<double>(kMaxDelayTimeoutUSec))
        return seconds_text(kMaxDelayTimeoutUSec).insert(0, "must be at most a day (") + ")";
    return std::nullopt;
}

std::uint64_t seconds_to_usec(double seconds) { return static_cast<std::uint64_t>(std::llround(seconds * 1e6)); }

std::string seconds_text(std::uint64_t usec)
{
    std::string text = std::to_string(usec / 1000000);
    if (std::uint64_t fraction = usec % 1000000; fraction != 0) {
        std::string digits = std::to_string(fraction);
        digits.insert(0, 6 - digits.size(), '0');
        digits.erase(digits.find_last_not_of('0') + 1);
        text += "." + digits;
    }
    return text + " s";
}

}  // namespace luo::update
