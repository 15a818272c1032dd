// SPDX-License-Identifier: Apache-2.0
// systemd runs a unit's WatchdogSec= during a Type=notify start too, and luod's event loop,
// which answers the watchdog once running (EventLoop), does not run while luod starts. The
// start's long steps are single system calls (after a kexec the kernel's first open of
// /dev/liveupdate is quadratic in sessions), so while luod starts a thread of its own tells
// the watchdog it is alive. TimeoutStartSec= still bounds the start.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

namespace luod {

class StartupWatchdog {
public:
    // Pings at half the unit's watchdog interval, from now until stop(); nothing without one.
    StartupWatchdog();
    ~StartupWatchdog();
    StartupWatchdog(const StartupWatchdog&) = delete;
    StartupWatchdog& operator=(const StartupWatchdog&) = delete;
    // The event loop takes over.
    void stop();

private:
    std::mutex mutex_;
    std::condition_variable stopping_;
    bool stopped_ = false;
    std::thread thread_;
};

}  // namespace luod
