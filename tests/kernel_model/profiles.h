// SPDX-License-Identifier: Apache-2.0
// Kernel profiles as types, so one TEMPLATE_TEST_CASE registers one test per profile and
// the test list names the profile (e.g. "... - kernel_7_1").
#pragma once

#include <string>

struct kernel_6_19 {
    static constexpr const char* name = "6.19";
    static constexpr bool v7_1 = false, v7_2 = false;
};
struct kernel_7_1 {
    static constexpr const char* name = "7.1";
    static constexpr bool v7_1 = true, v7_2 = false;
};
struct kernel_7_2 {
    static constexpr const char* name = "7.2";
    static constexpr bool v7_1 = true, v7_2 = true;
};

#define LUO_ALL_KERNELS kernel_6_19, kernel_7_1, kernel_7_2
#define LUO_KERNELS_SINCE_7_1 kernel_7_1, kernel_7_2
