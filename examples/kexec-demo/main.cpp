// SPDX-License-Identifier: Apache-2.0
// luo-kexec-demo: the smallest live update, as the "init" of a luo-kernel-model boot.
// Boot 1: put a message into a memfd, preserve it in session "demo", load the next kernel
// and reboot into it. Boot 2: retrieve the session, print the message, finish.
// It talks to the device directly through libluo (no daemon), like the kernel selftests.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "luo/device.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/model_control.h"

namespace {

constexpr std::uint64_t kToken = 1;

void say(const std::string& line)
{
    std::printf("luo-kexec-demo: %s\n", line.c_str());
    std::fflush(stdout);
}

int stage1(luo::Device& dev, const std::filesystem::path& root)
{
    std::string message = "hello from the previous kernel (boot " + std::string(std::getenv("LUO_MODEL_BOOT")) + ")";
    luo::UniqueFd memfd(::memfd_create("demo", MFD_CLOEXEC));
    if (::write(memfd.get(), message.data(), message.size()) != static_cast<ssize_t>(message.size()))
        luo::throw_last_errno("write");
    luo::Session session = dev.create_session("demo");
    session.preserve_fd(memfd.get(), kToken);
    say("preserved a memfd holding \"" + message + "\" in session \"demo\"");

    auto image = root / "boot/vmlinuz-next";
    std::filesystem::create_directories(image.parent_path());
    luo::model::write_kernel_image(image, "7.2");
    luo::UniqueFd kernel(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
    luo::Kexec kexec(root);
    kexec.load(kernel.get(), -1, "kho=on liveupdate=on");
    say("loaded the next kernel; calling reboot(LINUX_REBOOT_CMD_KEXEC)");
    kexec.reboot();  // does not come back: the model ends userspace and boots the next kernel
    return 0;
}

int stage2(luo::Session& session, const std::filesystem::path& root)
{
    luo::UniqueFd memfd = session.retrieve_fd(kToken);
    char buf[256] = {};
    ssize_t n = ::pread(memfd.get(), buf, sizeof buf - 1, 0);
    say("retrieved session \"demo\" after the kexec; the memfd holds \"" + std::string(buf, n > 0 ? n : 0) + "\"");
    session.finish();
    say("finished the session: live update complete");
    std::ofstream(root / "run/luo-kexec-demo.done") << buf << "\n";
    return 0;
}

}  // namespace

int main()
{
    const char* root_env = std::getenv("LUO_MODEL_ROOT");
    if (!root_env || !std::getenv("LUO_MODEL_BOOT")) {
        std::fprintf(stderr, "luo-kexec-demo: run me as luo-kernel-model's --init\n");
        return 2;
    }
    std::filesystem::path root(root_env);
    try {
        luo::Device dev = luo::Device::open(root);
        try {
            luo::Session session = dev.retrieve_session("demo");
            return stage2(session, root);
        } catch (const luo::Error& e) {
            if (e.errno_value() != ENOENT)
                throw;
        }
        return stage1(dev, root);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luo-kexec-demo: %s\n", e.what());
        return 1;
    }
}
