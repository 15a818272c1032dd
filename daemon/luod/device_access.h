// SPDX-License-Identifier: Apache-2.0
// luod's access to /dev/liveupdate: every call that needs the device (creating and
// retrieving sessions, probing the kernel's features) goes through here, so that how long
// luod holds the device is decided in this one place. Today luod opens it at start and keeps
// it, except while the systemd strategy has handed it to systemd-shutdown.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "luo/device.h"

namespace luod {

class DeviceAccess {
public:
    explicit DeviceAccess(std::filesystem::path root) : root_(std::move(root)) {}

    // Opens the device and probes the kernel (with a scratch session named `probe_session`).
    // A missing or busy device leaves luod running without it: available() is then false and
    // every session call fails with DeviceUnavailable.
    void start(std::string_view probe_session);
    // The systemd strategy hands the device to systemd-shutdown; sessions are unaffected.
    void release() { device_.close(); }
    void reopen() { open(); }

    [[nodiscard]] bool available() const { return device_.valid(); }
    [[nodiscard]] luo::Transport transport() const { return transport_; }
    [[nodiscard]] const luo::Features& features() const { return features_; }
    // The features as the Manager's KernelFeatures property lists them.
    [[nodiscard]] std::vector<std::string> feature_names() const;
    [[nodiscard]] const std::filesystem::path& root() const { return root_; }

    // Throw luo::Error with the kernel's errno.
    luo::Session create_session(std::string_view name) { return device_.create_session(name); }
    luo::Session retrieve_session(std::string_view name) { return device_.retrieve_session(name); }

private:
    void open();

    std::filesystem::path root_;
    luo::Device device_;
    luo::Transport transport_ = luo::Transport::kernel;
    luo::Features features_;
};

}  // namespace luod
