// SPDX-License-Identifier: Apache-2.0
// The wall clock as luod records it: CLOCK_REALTIME in microseconds (the manifest's times,
// the update report's phases).
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

namespace luod {

inline std::uint64_t realtime_usec()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

// The CPU time of the calling thread so far: what a step of work cost luod itself, apart from
// the time it waited for a CPU on a busy machine.
inline std::chrono::nanoseconds thread_cpu_time()
{
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace luod

namespace luod {

// How long each step of luod's start took (the debug log says it; bench-blackout reads it),
// and where the time went: on a busy machine the steps' wall time is mostly waiting. Each step:
// "<name> <wall> us (cpu <us> us, queued <us> us, <minor faults> faults, <voluntary switches>
// waits, <involuntary switches> preempted)": `cpu` is the main thread's run time and `queued`
// its time runnable but waiting for a CPU (/proc/thread-self/schedstat, 0 in a kernel without
// schedstats); the rest of the wall time it was blocked (on the kernel, the bus, a file); then
// ", user <us> us, system <us> us": the process's CPU time in its own code and in the kernel
// (getrusage; what tells luod's work from the kernel's in a step). Then the CPU time (user and
// system, every thread) since the clock started.
class StartupClock {
public:
    void lap(const char* step)
    {
        auto now = std::chrono::steady_clock::now();
        Usage usage = Usage::now();
        text_ += (text_.empty() ? "" : ", ") + std::string(step) + " " +
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count()) + " us (cpu " +
            std::to_string((usage.run_nsec - last_usage_.run_nsec) / 1000) + " us, queued " +
            std::to_string((usage.queued_nsec - last_usage_.queued_nsec) / 1000) + " us, " +
            std::to_string(usage.minor_faults - last_usage_.minor_faults) + " faults, " +
            std::to_string(usage.waits - last_usage_.waits) + " waits, " +
            std::to_string(usage.preempted - last_usage_.preempted) + " preempted, user " +
            std::to_string(usage.user_usec - last_usage_.user_usec) + " us, system " +
            std::to_string(usage.system_usec - last_usage_.system_usec) + " us)";
        last_ = now;
        last_usage_ = usage;
    }
    [[nodiscard]] std::string text() const
    {
        Usage now = Usage::now();
        return text_ + "; cpu " +
            std::to_string(now.user_usec + now.system_usec - start_usage_.user_usec - start_usage_.system_usec) + " us";
    }

private:
    struct Usage {
        std::int64_t user_usec = 0, system_usec = 0, minor_faults = 0, waits = 0, preempted = 0;
        std::int64_t run_nsec = 0, queued_nsec = 0;  // this thread's; 0 without schedstat
        static Usage now()
        {
            rusage ru{};
            ::getrusage(RUSAGE_SELF, &ru);
            Usage u{ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
                    ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_minflt, ru.ru_nvcsw, ru.ru_nivcsw};
            std::ifstream schedstat("/proc/thread-self/schedstat");
            schedstat >> u.run_nsec >> u.queued_nsec;
            return u;
        }
    };
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    Usage start_usage_ = Usage::now();
    Usage last_usage_ = start_usage_;
    std::string text_;
};

}  // namespace luod
