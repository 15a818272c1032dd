// SPDX-License-Identifier: Apache-2.0
#include "kernel_loader.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "api_error.h"
#include "fault.h"
#include "kernel_errors.h"
#include "kernel_files.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/paths.h"
#include "luo/unique_fd.h"
#include "names.h"

namespace luod {

namespace {

// The longest kernel command line luod passes on (the kernel's own limit is 2048 bytes on
// x86 and arm64, up to 4096 elsewhere).
constexpr std::size_t kMaxCmdline = 4096;

luo::UniqueFd open_image(const std::string& path, const char* what)
{
    std::string named = std::string("the ") + what + " " + quote(path);
    if (path.size() >= PATH_MAX || path.find('\0') != std::string::npos)
        fail(ErrorKind::invalid_args, named + " is not a path (longer than " + std::to_string(PATH_MAX - 1) +
                                          " bytes, or with a NUL byte)");
    if (path.empty() || path.front() != '/')
        fail(ErrorKind::invalid_args, std::string("the ") + what + " path must be absolute: " + quote(path));
    // O_NONBLOCK: a FIFO named here must not hang luod; only regular files are taken.
    // No magic links: /proc/self/fd/N would name one of luod's own fds (a session's memfd).
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_NO_MAGICLINKS;
    luo::UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how)));
    // Without openat2 (a kernel before 5.6, or a seccomp filter such as systemd-nspawn's that
    // does not know it) a plain open stands in: what a magic link could reach (a memfd, mode
    // 0777) still fails the owner and mode check below.
    if (!fd && errno == ENOSYS)
        fd = luo::UniqueFd(::open(path.c_str(), static_cast<int>(how.flags)));
    if (!fd && errno == ELOOP)
        fail(ErrorKind::invalid_args, named + " resolves through a /proc magic link or a symlink loop; name the file itself");
    if (!fd)
        fail(ErrorKind::invalid_args, "cannot open " + named + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        fail(ErrorKind::invalid_args, named + " is not a regular file");
    // The next kernel runs with every privilege: an image another user could rewrite (even
    // between this check and the kexec, through the same inode) is not one to boot.
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
        fail(ErrorKind::invalid_args, fmt::format("{} may be written by users other than root (owner uid {}, mode {:04o}); "
                                                  "refusing to boot it",
                                                  named, st.st_uid, st.st_mode & 07777));
    return fd;
}

}  // namespace

std::string reusable_cmdline(std::string_view running)
{
    std::string out;
    std::size_t i = 0;
    while (i < running.size()) {
        while (i < running.size() && (running[i] == ' ' || running[i] == '\t' || running[i] == '\n'))
            ++i;
        std::size_t start = i;
        bool quoted = false;
        // As the kernel splits parameters: spaces end one unless inside double quotes.
        while (i < running.size() && (quoted || (running[i] != ' ' && running[i] != '\t' && running[i] != '\n'))) {
            if (running[i] == '"')
                quoted = !quoted;
            ++i;
        }
        std::string_view parameter = running.substr(start, i - start);
        if (parameter.empty() || parameter.starts_with("BOOT_IMAGE="))
            continue;
        out += (out.empty() ? "" : " ") + std::string(parameter);
    }
    return out;
}

KernelImages KernelLoader::prepare(const std::string& kernel, const std::string& initrd, const std::string& cmdline,
                                  bool reuse_cmdline, bool no_liveupdate_flags) const
{
    if (cmdline.size() > kMaxCmdline || has_control_characters(cmdline))
        fail(ErrorKind::invalid_args, "the command line must be at most " + std::to_string(kMaxCmdline) +
                                          " bytes without control characters");
    KernelImages images{root_, kernel, open_image(kernel, "kernel"),
                        initrd.empty() ? luo::UniqueFd() : open_image(initrd, "initrd"), std::string()};
    std::string& line = images.cmdline;
    if (reuse_cmdline)
        line = reusable_cmdline(first_line(luo::KernelPaths(root_).cmdline()));
    if (!cmdline.empty())
        line += (line.empty() ? "" : " ") + cmdline;
    if (!no_liveupdate_flags)
        for (const char* flag : {"kho", "liveupdate"})
            if (!cmdline_flag(line, flag))
                line += (line.empty() ? "" : " ") + std::string(flag) + "=on";
    return images;
}

void KernelLoader::load(const KernelImages& images)
{
    fault_point("kernel-load");
    try {
        luo::Kexec(images.root).load(images.kernel.get(), images.initrd.get(), images.cmdline);
    } catch (const luo::Error& e) {
        if (e.errno_value() == ENOEXEC)
            fail(ErrorKind::kernel_error,
                 "the running kernel cannot load " + quote(images.kernel_path) + ": " + errno_text(e));
        fail(ErrorKind::kernel_error, "kexec_file_load failed: " + errno_text(e));
    }
}

void KernelLoader::loaded(const KernelImages& images)
{
    loaded_cmdline_ = images.cmdline;
    spdlog::info("kernel {} loaded with command line {}", quote(images.kernel_path, PATH_MAX),
                 quote(images.cmdline, 2 * kMaxCmdline));
}

void KernelLoader::unload()
{
    try {
        luo::Kexec(root_).unload();
    } catch (const luo::Error& e) {
        fail(ErrorKind::kernel_error, "kexec_file_load(KEXEC_FILE_UNLOAD) failed: " + errno_text(e));
    }
    loaded_cmdline_.reset();
    spdlog::info("kernel unloaded");
}

}  // namespace luod
