// SPDX-License-Identifier: Apache-2.0
#include "startup_watchdog.h"

#include <signal.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdint>

namespace luod {

StartupWatchdog::StartupWatchdog()
{
    std::uint64_t usec = 0;
    if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    auto interval = std::chrono::microseconds(usec / 2);
    thread_ = std::thread([this, interval] {
        // Signals are the main thread's (its event loop handles SIGTERM).
        sigset_t all;
        sigfillset(&all);
        ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
        std::unique_lock lock(mutex_);
        do
            ::sd_notify(0, "WATCHDOG=1");
        while (!stopping_.wait_for(lock, interval, [this] { return stopped_; }));
    });
}

StartupWatchdog::~StartupWatchdog()
{
    stop();
}

void StartupWatchdog::stop()
{
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    stopping_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

}  // namespace luod
