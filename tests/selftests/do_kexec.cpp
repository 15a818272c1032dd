// SPDX-License-Identifier: Apache-2.0
// luo-do-kexec: what the selftests' do_kexec.sh does with kexec-tools ("kexec -l -s
// --reuse-cmdline KERNEL --initrd=INITRD; kexec -e"), as one small program written for the
// kernel: kexec_file_load(2) then reboot(LINUX_REBOOT_CMD_KEXEC). On a LUO kernel it reboots
// the machine into KERNEL; preloaded with libluo-model-preload.so it does the same to
// luo-kernel-model (which takes only its own image files as kernels).
//   luo-do-kexec KERNEL [INITRD] [--append CMDLINE]    (default: the running /proc/cmdline)
#include <fcntl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "luo/error.h"
#include "luo/uapi.h"
#include "luo/unique_fd.h"

namespace {

int usage()
{
    std::fprintf(stderr, "usage: luo-do-kexec KERNEL [INITRD] [--append CMDLINE]\n");
    return 2;
}

int fail(const std::string& what, int err)
{
    std::fprintf(stderr, "luo-do-kexec: %s: %s (%s)\n", what.c_str(), luo::errno_name(err).c_str(), std::strerror(err));
    return 1;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> files;
    std::string cmdline;
    bool have_cmdline = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--append" && i + 1 < argc) {
            cmdline = argv[++i];
            have_cmdline = true;
        } else if (!arg.empty() && arg[0] != '-') {
            files.push_back(arg);
        } else {
            return usage();
        }
    }
    if (files.empty() || files.size() > 2)
        return usage();
    if (!have_cmdline) {
        std::ifstream in("/proc/cmdline");
        if (!std::getline(in, cmdline))
            return fail("read /proc/cmdline", EIO);
    }
    luo::UniqueFd kernel(::open(files[0].c_str(), O_RDONLY | O_CLOEXEC));
    if (!kernel)
        return fail("open " + files[0], errno);
    luo::UniqueFd initrd;
    unsigned long flags = luo::uapi::kKexecFileNoInitramfs;
    if (files.size() == 2) {
        initrd.reset(::open(files[1].c_str(), O_RDONLY | O_CLOEXEC));
        if (!initrd)
            return fail("open " + files[1], errno);
        flags = 0;
    }
    if (::syscall(SYS_kexec_file_load, kernel.get(), initrd.get(), cmdline.size() + 1, cmdline.c_str(), flags) < 0)
        return fail("kexec_file_load", errno);
    std::printf("luo-do-kexec: loaded %s, command line '%s'; rebooting into it\n", files[0].c_str(), cmdline.c_str());
    std::fflush(stdout);
    ::sync();
    ::reboot(RB_KEXEC);
    return fail("reboot(RB_KEXEC)", errno);
}
