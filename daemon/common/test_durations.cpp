// SPDX-License-Identifier: Apache-2.0
// The delay timeout's one rule (luoctl --timeout in seconds, luod's DelayTimeoutUSec in
// microseconds) and durations written in seconds.
#include "luo_catch.h"
#include <cmath>

#include "durations.h"

using namespace luo::update;

TEST_CASE("the delay timeout: 0 to a day, the same bound in seconds and in microseconds", "[durations]")
{
    CHECK_FALSE(delay_timeout_problem_seconds(0).has_value());
    CHECK_FALSE(delay_timeout_problem_seconds(0.3).has_value());
    CHECK_FALSE(delay_timeout_problem_seconds(86400).has_value());
    CHECK(delay_timeout_problem_seconds(86400.5) == "must be at most a day (86400 s)");
    CHECK(delay_timeout_problem_seconds(-1) == "must be a number of seconds, 0 or more");
    CHECK(delay_timeout_problem_seconds(std::nan("")).has_value());
    CHECK(delay_timeout_problem_seconds(1e300).has_value());

    CHECK_FALSE(delay_timeout_problem_usec(0).has_value());
    CHECK_FALSE(delay_timeout_problem_usec(kMaxDelayTimeoutUSec).has_value());
    CHECK(delay_timeout_problem_usec(kMaxDelayTimeoutUSec + 1) ==
          "86400000001 µs is more than a day (86400000000 µs)");
    // What passes in seconds passes in microseconds once converted, up to the bound.
    for (double s : {0.0, 0.000001, 0.3, 1.5, 30.0, 86399.9999995, 86400.0}) {
        INFO(s);
        REQUIRE_FALSE(delay_timeout_problem_seconds(s).has_value());
        CHECK_FALSE(delay_timeout_problem_usec(seconds_to_usec(s)).has_value());
    }
    CHECK(seconds_to_usec(0.3) == 300000);
}

TEST_CASE("durations for people are in seconds, without trailing zeros", "[durations]")
{
    CHECK(seconds_text(0) == "0 s");
    CHECK(seconds_text(300000) == "0.3 s");
    CHECK(seconds_text(30000000) == "30 s");
    CHECK(seconds_text(1250000) == "1.25 s");
    CHECK(seconds_text(1) == "0.000001 s");
}
