// SPDX-License-Identifier: Apache-2.0
// Every kernel path luod and libluo read, under a root directory ("/" on a real host, the
// model's root directory otherwise).
#pragma once

#include <filesystem>

namespace luo {

class KernelPaths {
public:
    explicit KernelPaths(std::filesystem::path root = "/") : root_(std::move(root)) {}

    [[nodiscard]] const std::filesystem::path& root() const { return root_; }
    [[nodiscard]] std::filesystem::path device() const { return root_ / "dev/liveupdate"; }
    [[nodiscard]] std::filesystem::path liveupdate_state() const { return root_ / "sys/kernel/liveupdate/state"; }
    [[nodiscard]] std::filesystem::path kexec_loaded() const { return root_ / "sys/kernel/kexec_loaded"; }
    [[nodiscard]] std::filesystem::path cmdline() const { return root_ / "proc/cmdline"; }
    [[nodiscard]] std::filesystem::path boot_id() const { return root_ / "proc/sys/kernel/random/boot_id"; }
    [[nodiscard]] std::filesystem::path os_release() const { return root_ / "proc/sys/kernel/osrelease"; }
    [[nodiscard]] std::filesystem::path interrupts() const { return root_ / "proc/interrupts"; }
    [[nodiscard]] std::filesystem::path pci_devices() const { return root_ / "sys/bus/pci/devices"; }
    // Only the kernel model has this: its stand-in for the kexec_file_load and reboot
    // system calls (and its test controls).
    [[nodiscard]] std::filesystem::path model_syscall() const { return root_ / "run/luo-kernel-model/syscall"; }

private:
    std::filesystem::path root_;
};

}  // namespace luo
