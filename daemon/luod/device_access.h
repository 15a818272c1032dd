// SPDX-License-Identifier: Apache-2.0
// luod's access to /dev/liveupdate. The open is exclusive, and PID 1 needs the device too
// (systemd ≥ 261 restores fd stores at boot, creates LUOSession= sessions at unit start and
// preserves fd stores in systemd-shutdown), while sessions outlive the device fd. So luod
// opens the device for each call that needs it (creating and retrieving sessions, probing
// the kernel) and closes it at once: it never holds it while it waits for anything. A busy
// device is tried again with a short bounded backoff; when luod gives up, the error names
// the holder.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "clock.h"
#include "luo/device.h"

namespace luod {

// How long luod keeps trying a busy device: attempts after the first, with delays doubling
// from `first_delay` up to `max_delay` (the defaults wait at most about 1.5 s in all: PID 1
// holds the device for a few ioctls).
struct DeviceRetry {
    int retries = 9;
    std::chrono::milliseconds first_delay{5};
    std::chrono::milliseconds max_delay{400};
};

class DeviceAccess {
public:
    explicit DeviceAccess(std::filesystem::path root, DeviceRetry retry = {})
        : root_(std::move(root)), retry_(retry)
    {
    }

    // Opens the device once to probe the kernel (with a scratch session named
    // `probe_session`) and closes it. A missing device, or one still busy after the
    // retries, leaves luod running without it: available() is then false and every session
    // call fails with DeviceUnavailable. With a clock, the open is its own lap
    // ("device-open"): the first open after a kexec is when the kernel reads the sessions that
    // came across.
    void start(std::string_view probe_session, StartupClock* clock = nullptr);

    [[nodiscard]] bool available() const { return available_; }
    [[nodiscard]] luo::Transport transport() const { return transport_; }
    [[nodiscard]] const luo::Features& features() const { return features_; }
    // The features as the Manager's KernelFeatures property lists them.
    [[nodiscard]] std::vector<std::string> feature_names() const;
    [[nodiscard]] const std::filesystem::path& root() const { return root_; }
    // How many opens found the device busy (and were tried again), since start.
    [[nodiscard]] std::size_t busy_retries() const { return busy_retries_; }

    // Each opens the device, makes its one call and closes it. Throw luo::Error with the
    // kernel's errno; EBUSY (after the retries) names who holds the device.
    luo::Session create_session(std::string_view name);
    luo::Session retrieve_session(std::string_view name);

private:
    // The device, open; busy opens are retried as DeviceRetry says. `purpose` is for the log.
    luo::Device open(std::string_view purpose);

    std::filesystem::path root_;
    DeviceRetry retry_;
    bool available_ = false;
    luo::Transport transport_ = luo::Transport::kernel;
    luo::Features features_;
    std::size_t busy_retries_ = 0;
};

}  // namespace luod
