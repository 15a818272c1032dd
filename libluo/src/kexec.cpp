// SPDX-License-Identifier: Apache-2.0
#include "luo/kexec.h"

#include <linux/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "luo/error.h"
#include "luo/model_control.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/uapi.h"

namespace luo {

Kexec::Kexec(std::filesystem::path root) : root_(std::move(root))
{
    // Only "/" reaches the real system calls. Any other root is a kernel model's, even
    // while its sockets are missing (LUO off, or rebooting): a real kexec must never be
    // the result of a model that is briefly away.
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(root_, ec);
    model_ = ec || canonical != "/";
}

void Kexec::load(int kernel_fd, int initrd_fd, const std::string& cmdline, unsigned long flags)
{
    if (initrd_fd < 0)
        flags |= uapi::kKexecFileNoInitramfs;
    if (!model_) {
        long rc = ::syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, cmdline.size() + 1, cmdline.c_str(), flags);
        if (rc < 0)
            throw_last_errno("kexec_file_load");
        return;
    }
    model_wire::KexecFileLoadArgs args{flags, static_cast<std::uint32_t>(cmdline.size() + 1), 0};
    std::vector<std::byte> bytes(sizeof args + cmdline.size() + 1);
    std::memcpy(bytes.data(), &args, sizeof args);
    std::memcpy(bytes.data() + sizeof args, cmdline.c_str(), cmdline.size() + 1);
    // Built whole rather than grown by push_back: GCC 16 misreads the push_back onto a
    // one-element vector as a write past its end (-Warray-bounds).
    std::vector<int> fds = initrd_fd >= 0 ? std::vector<int>{kernel_fd, initrd_fd} : std::vector<int>{kernel_fd};
    if (int rc = model::syscall_request(root_, model_wire::kSysKexecFileLoad, bytes, fds); rc < 0)
        throw_errno(-rc, "kexec_file_load");
}

void Kexec::unload()
{
    if (!model_) {
        long rc = ::syscall(SYS_kexec_file_load, -1, -1, 0UL, nullptr, uapi::kKexecFileUnload);
        if (rc < 0)
            throw_last_errno("kexec_file_load(KEXEC_FILE_UNLOAD)");
        return;
    }
    model_wire::KexecFileLoadArgs args{uapi::kKexecFileUnload, 0, 0};
    if (int rc = model::syscall_request(root_, model_wire::kSysKexecFileLoad,
                                        std::as_bytes(std::span(&args, 1)), {});
        rc < 0)
        throw_errno(-rc, "kexec_file_load(KEXEC_FILE_UNLOAD)");
}

void Kexec::reboot()
{
    ::sync();
    if (!model_) {
        long rc = ::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, nullptr);
        if (rc < 0)
            throw_last_errno("reboot(LINUX_REBOOT_CMD_KEXEC)");
        return;
    }
    int rc = model::syscall_request(root_, model_wire::kSysRebootKexec, {}, {});
    if (rc == -ECONNRESET)
        return;  // the model went down to boot the next kernel
    if (rc < 0)
        throw_errno(-rc, "reboot(LINUX_REBOOT_CMD_KEXEC)");
    throw_errno(EPROTO, "reboot(LINUX_REBOOT_CMD_KEXEC): the kernel model answered success");
}

bool Kexec::loaded() const
{
    std::ifstream in(KernelPaths(root_).kexec_loaded());
    int v = 0;
    return in >> v && v == 1;
}

}  // namespace luo
