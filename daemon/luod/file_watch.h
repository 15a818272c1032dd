// SPDX-License-Identifier: Apache-2.0
// Follows a kernel file for changes: sysfs attributes that the kernel notifies are watched
// with POLLPRI, and polled as well since not all of them are notified (kexec_loaded is
// not); files of the kernel model are replaced by rename and watched with inotify.
#pragma once

#include <filesystem>
#include <functional>

#include "event_loop.h"
#include "luo/unique_fd.h"

namespace luod {

class FileWatch {
public:
    FileWatch(EventLoop& loop, std::filesystem::path path, std::function<void()> changed);

private:
    void arm_poll();

    EventLoop& loop_;
    std::filesystem::path path_;
    std::function<void()> changed_;
    luo::UniqueFd fd_;  // inotify instance, or the sysfs attribute itself
    EventSource source_;
    EventSource poll_;
};

}  // namespace luod
