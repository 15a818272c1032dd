// SPDX-License-Identifier: Apache-2.0
#include "device_access.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "kernel_errors.h"
#include "luo/error.h"
#include "luo/paths.h"

namespace luod {

void DeviceAccess::start(std::string_view probe_session)
{
    open();
    if (device_.valid())
        features_ = device_.probe_features(probe_session);
}

void DeviceAccess::open()
{
    // A previous luod may still be exiting and hold the device for a moment.
    for (int attempt = 0;; ++attempt) {
        try {
            device_ = luo::Device::open(root_);
            transport_ = device_.transport();
            return;
        } catch (const luo::Error& e) {
            if (e.errno_value() == EBUSY && attempt < 50) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            spdlog::error("cannot open {}: {}{}; running without it", luo::KernelPaths(root_).device().native(),
                          errno_text(e),
                          e.errno_value() == EIO ? " (the kernel could not restore the last update's handover)"
                          : e.errno_value() == ENOENT ? " (no LUO in this kernel: kho=on liveupdate=on?)"
                                                       : "");
            return;
        }
    }
}

std::vector<std::string> DeviceAccess::feature_names() const
{
    std::vector<std::string> out;
    if (!device_.valid())
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
