// SPDX-License-Identifier: Apache-2.0
// Loading the next kernel and rebooting into it: kexec_file_load(2) and
// reboot(LINUX_REBOOT_CMD_KEXEC) on a real kernel, their stand-ins on the model.
#pragma once

#include <filesystem>
#include <string>

namespace luo {

class Kexec {
public:
    // Root "/" uses the real system calls; any other root is served by luo-kernel-model
    // (its <root>/run/luo-kernel-model/syscall socket).
    explicit Kexec(std::filesystem::path root = "/");

    [[nodiscard]] bool uses_model() const { return model_; }

    // kexec_file_load(kernel_fd, initrd_fd or -1, cmdline, flags). Throws luo::Error.
    void load(int kernel_fd, int initrd_fd, const std::string& cmdline, unsigned long flags = 0);
    void unload();
    // reboot(LINUX_REBOOT_CMD_KEXEC). Returns only on failure (throws luo::Error with the
    // kernel's errno: EINVAL no image or a freeze failure, EBUSY, EPERM). On the model a
    // successful call returns once the model has started to reboot; the caller is then
    // normally ended with the rest of the simulated userspace.
    void reboot();
    // <root>/sys/kernel/kexec_loaded; false when the file does not exist.
    [[nodiscard]] bool loaded() const;

private:
    std::filesystem::path root_;
    bool model_ = false;
};

}  // namespace luo
