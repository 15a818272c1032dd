// SPDX-License-Identifier: Apache-2.0
// luo-kexec-demo: the smallest live update, on a LUO kernel or on luo-kernel-model.
// Boot 1: put a message into a memfd, preserve it in session "demo", load the next kernel
// and reboot into it. Boot 2: retrieve the session, print the message, finish.
// It talks to the device directly through libluo (no daemon), like the kernel selftests.
//
// On a real kernel (root /) the next kernel is named with --kernel (and --initrd); nothing is
// written anywhere. On the model (--root DIR, or LUO_MODEL_ROOT as the model's --init gets it)
// the next kernel defaults to a model image kept in a memfd. The command line defaults to the
// running one (ROOT/proc/cmdline).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "luo/device.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/paths.h"

namespace {

constexpr std::uint64_t kToken = 1;

struct Options {
    std::filesystem::path root = "/";
    std::string kernel;
    std::string initrd;
    std::optional<std::string> append;
};

void say(const std::string& line)
{
    std::printf("luo-kexec-demo: %s\n", line.c_str());
    std::fflush(stdout);
}

std::string first_line(const std::filesystem::path& file)
{
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

luo::UniqueFd open_file(const std::string& path)
{
    luo::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        luo::throw_last_errno("open " + path);
    return fd;
}

// The model's kernel image format (luo-kernel-model(8)), in a memfd: no file is written.
luo::UniqueFd model_image()
{
    static constexpr std::string_view kImage = "LUO-KERNEL-MODEL-IMAGE\nprofile=7.2\n";
    luo::UniqueFd fd(::memfd_create("luo-kexec-demo-image", MFD_CLOEXEC));
    if (!fd || ::write(fd.get(), kImage.data(), kImage.size()) != static_cast<ssize_t>(kImage.size()))
        luo::throw_last_errno("model image");
    return fd;
}

int stage1(luo::Device& dev, const Options& options)
{
    luo::Kexec kexec(options.root);
    if (options.kernel.empty() && !kexec.uses_model()) {
        std::fprintf(stderr, "luo-kexec-demo: on a real kernel, name the next kernel with --kernel (and --initrd)\n");
        return 2;
    }
    luo::KernelPaths paths(options.root);
    std::string message = "hello from the previous kernel (boot id " + first_line(paths.boot_id()).substr(0, 8) + ")";
    luo::UniqueFd memfd(::memfd_create("demo", MFD_CLOEXEC));
    if (::write(memfd.get(), message.data(), message.size()) != static_cast<ssize_t>(message.size()))
        luo::throw_last_errno("write");
    luo::Session session = dev.create_session("demo");
    session.preserve_fd(memfd.get(), kToken);
    say("preserved a memfd holding \"" + message + "\" in session \"demo\"");

    luo::UniqueFd kernel = options.kernel.empty() ? model_image() : open_file(options.kernel);
    luo::UniqueFd initrd = options.initrd.empty() ? luo::UniqueFd() : open_file(options.initrd);
    std::string cmdline = options.append ? *options.append : first_line(paths.cmdline());
    kexec.load(kernel.get(), initrd.get(), cmdline);
    say("loaded the next kernel (" + (options.kernel.empty() ? std::string("a model image") : options.kernel) +
        "), command line '" + cmdline + "'; calling reboot(LINUX_REBOOT_CMD_KEXEC)");
    kexec.reboot();  // does not come back: the kernel (or the model) ends userspace and boots the next one
    return 0;
}

int stage2(luo::Session& session, const Options& options)
{
    luo::UniqueFd memfd = session.retrieve_fd(kToken);
    char buf[256] = {};
    ssize_t n = ::pread(memfd.get(), buf, sizeof buf - 1, 0);
    say("retrieved session \"demo\" after the kexec; the memfd holds \"" + std::string(buf, n > 0 ? n : 0) + "\"");
    session.finish();
    say("finished the session: live update complete");
    std::ofstream(options.root / "run/luo-kexec-demo.done") << buf << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    Options options;
    if (const char* root = std::getenv("LUO_MODEL_ROOT"))
        options.root = root;
    std::string append;
    CLI::App app{"luo-kexec-demo: the smallest live update. Boot 1 preserves a message in session \"demo\" "
                 "and kexecs; boot 2 (run it again there) prints the message and finishes.",
                 "luo-kexec-demo"};
    app.add_option("--root", options.root, "Root of the kernel: / (default) or a luo-kernel-model root "
                                           "(default from LUO_MODEL_ROOT)");
    app.add_option("--kernel", options.kernel, "The next kernel (required on a real kernel; on the model a "
                                               "model image by default)");
    app.add_option("--initrd", options.initrd, "The next kernel's initramfs");
    auto* append_option =
        app.add_option("--append", append, "The next kernel's command line (default: the running one)");
    app.footer("Exit status: 0 done (boot 2) or rebooting (boot 1), 1 failure, 2 bad usage.");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (append_option->count() > 0)
        options.append = append;
    try {
        luo::Device dev = luo::Device::open(options.root);
        try {
            luo::Session session = dev.retrieve_session("demo");
            return stage2(session, options);
        } catch (const luo::Error& e) {
            if (e.errno_value() != ENOENT)
                throw;
        }
        return stage1(dev, options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luo-kexec-demo: %s\n", e.what());
        return 1;
    }
}
