// SPDX-License-Identifier: Apache-2.0
#include "device_access.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "kernel_errors.h"
#include "luo/error.h"
#include "luo/paths.h"

namespace luod {

void DeviceAccess::start(std::string_view probe_session, StartupClock* clock)
{
    try {
        luo::Device device = open("probing the kernel");
        if (clock)
            clock->lap("device-open");
        transport_ = device.transport();
        features_ = device.probe_features(probe_session);
        available_ = true;
    } catch (const luo::Error& e) {
        // The errno's name first (what an operator searches for), then what libluo knows (for
        // EBUSY: who holds the device).
        spdlog::error("cannot use {}: {}: {}{}; running without it", luo::KernelPaths(root_).device().native(),
                      errno_text(e), e.what(),
                      e.errno_value() == EIO      ? " (the kernel could not restore the last update's handover)"
                      : e.errno_value() == ENOENT ? " (no LUO in this kernel: kho=on liveupdate=on?)"
                                                  : "");
    }
}

luo::Device DeviceAccess::open(std::string_view purpose)
{
    std::chrono::milliseconds delay = retry_.first_delay;
    for (int attempt = 0;; ++attempt) {
        try {
            return luo::Device::open(root_);
        } catch (const luo::Error& e) {
            if (e.errno_value() != EBUSY || attempt >= retry_.retries)
                throw;
            // Another opener (PID 1, a previous luod still exiting) holds it for a moment.
            // The wait is short and bounded; the message names the holder.
            ++busy_retries_;
            spdlog::info("{} is busy ({}), {}: trying again in {} ms", luo::KernelPaths(root_).device().native(),
                         e.what(), purpose, delay.count());
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, retry_.max_delay);
        }
    }
}

luo::Session DeviceAccess::create_session(std::string_view name)
{
    luo::Device device = open("creating a session");
    return device.create_session(name);
}

luo::Session DeviceAccess::retrieve_session(std::string_view name)
{
    luo::Device device = open("retrieving a session");
    return device.retrieve_session(name);
}

std::vector<std::string> DeviceAccess::feature_names() const
{
    std::vector<std::string> out;
    if (!available_)
        return out;
    if (features_.get_name)
        out.emplace_back("session-get-name");
    if (features_.validates_names)
        out.emplace_back("name-validation");
    if (features_.rejects_double_preserve)
        out.emplace_back("double-preservation-check");
    out.push_back("max-sessions=" + std::to_string(features_.max_sessions));
    out.push_back("max-files-per-session=" + std::to_string(features_.max_files_per_session));
    return out;
}

}  // namespace luod
