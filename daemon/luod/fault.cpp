// SPDX-License-Identifier: Apache-2.0
#include "fault.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace luod {

void fault_point(const char* name)
{
    const char* wanted = std::getenv("LUOD_FAULT");
    if (wanted && std::strcmp(wanted, name) == 0) {
        spdlog::warn("fault point '{}': killing luod", name);
        spdlog::default_logger()->flush();
        ::kill(::getpid(), SIGKILL);
    }
    const char* stalled = std::getenv("LUOD_FAULT_STALL");
    if (stalled && std::strcmp(stalled, name) == 0) {
        spdlog::warn("fault point '{}': stalling this thread for good", name);
        spdlog::default_logger()->flush();
        for (;;)
            ::pause();
    }
}

bool fault_hold(const char* name)
{
    const char* held = std::getenv("LUOD_FAULT_HOLD");
    return held && std::strcmp(held, name) == 0;
}

std::size_t tuned_for_tests(const char* variable, std::size_t normal)
{
    const char* value = std::getenv(variable);
    if (!value || !*value)
        return normal;
    char* end = nullptr;
    unsigned long long n = std::strtoull(value, &end, 10);
    return *end == '\0' && n > 0 ? static_cast<std::size_t>(n) : normal;
}

}  // namespace luod
