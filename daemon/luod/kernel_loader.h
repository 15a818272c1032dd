// SPDX-License-Identifier: Apache-2.0
// Loading the next kernel (kexec_file_load, through libluo's Kexec): the images are opened
// by luod itself and must be regular files only root can write; the command line gets
// kho=on liveupdate=on unless the caller says otherwise (kernel-abi.md §6). Who may load
// and when is the update controller's to decide.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "luo/unique_fd.h"

namespace luod {

// The running kernel's command line made fit for the next kernel, as kexec-tools'
// --reuse-cmdline does for a normal (not crash) kexec: BOOT_IMAGE= (the boot loader's
// name of the running kernel's image, wrong for the next one) is dropped; every other
// parameter is kept in order. kexec-tools drops crashkernel= only when loading a crash
// kernel, which luod never does. Quoted values ("a b") stay one parameter.
std::string reusable_cmdline(std::string_view running);

// A load, checked and ready for the kernel: the images open, the command line made.
struct KernelImages {
    std::filesystem::path root;
    std::string kernel_path;
    luo::UniqueFd kernel;
    luo::UniqueFd initrd;  // none: no initramfs
    std::string cmdline;
};

class KernelLoader {
public:
    explicit KernelLoader(std::filesystem::path root) : root_(std::move(root)) {}

    // Checks a load and opens its images. Throws ApiError naming what is wrong.
    [[nodiscard]] KernelImages prepare(const std::string& kernel, const std::string& initrd, const std::string& cmdline,
                                       bool reuse_cmdline, bool no_liveupdate_flags) const;
    // kexec_file_load(2): long on a slow machine (the kernel reads and hashes the images), so
    // it uses nothing but `images` and may run on another thread. Throws ApiError with the
    // kernel's refusal.
    static void load(const KernelImages& images);
    // Records a load that succeeded.
    void loaded(const KernelImages& images);
    void unload();
    // The command line of the kernel luod loaded; nullopt when none is loaded or it was
    // loaded outside luod.
    [[nodiscard]] const std::optional<std::string>& loaded_cmdline() const { return loaded_cmdline_; }
    // The kernel is no longer loaded (seen in sysfs).
    void forget() { loaded_cmdline_.reset(); }

private:
    std::filesystem::path root_;
    std::optional<std::string> loaded_cmdline_;
};

}  // namespace luod
