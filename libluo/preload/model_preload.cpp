// SPDX-License-Identifier: Apache-2.0
// libluo-model-preload.so: runs programs written for a LUO kernel against luo-kernel-model.
//
// Loaded with LD_PRELOAD into a process whose environment names the model's root in
// LUO_MODEL_ROOT, it interposes the C library calls a LUO program makes:
//  - open()/openat() of /dev/liveupdate open the model's device socket instead (libluo's
//    Device::open), so the program gets a device fd with the kernel's answers: EBUSY for a
//    second opener, EIO after a failed handover, ENOENT without LUO;
//  - ioctl() on the model's device and session fds goes to the model (libluo's raw_ioctl):
//    every LUO ioctl, and any other request the kernel would have handed to LUO's ioctl
//    handler, with the kernel's errnos;
//  - syscall(SYS_kexec_file_load), syscall(SYS_reboot, ..., LINUX_REBOOT_CMD_KEXEC) and
//    reboot(RB_KEXEC) become the model's kexec_file_load and reboot; any other reboot is
//    refused with EPERM (a preloaded program must never reboot the real machine);
//  - ftruncate(), fallocate(), posix_fallocate(), write(), pwrite() and writev() refuse,
//    like the kernel, to change the size of a memfd preserved in an outgoing session
//    (EPERM; a write stops at the page where it would pass the end of the file).
// Without LUO_MODEL_ROOT every call goes straight to the C library. See README.md and
// libluo-model-preload(8) for what cannot be reproduced this way.
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "luo/device.h"
#include "luo/error.h"
#include "luo/model_control.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/uapi.h"

namespace {

namespace wire = luo::model_wire;

// The next definition of a C library function (the real one).
template <typename Fn>
Fn next_symbol(const char* name)
{
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}
// Looked up once per function.
#define REAL(name) ([] { static const auto fn = next_symbol<decltype(&::name)>(#name); return fn; }())

// LUO_MODEL_ROOT, or nullptr: then the library does nothing.
const char* model_root()
{
    const char* root = std::getenv("LUO_MODEL_ROOT");
    return root && *root ? root : nullptr;
}

int fail_with(int err)
{
    errno = err;
    return -1;
}

// Whether dirfd/path names /dev/liveupdate (lexically, from the current or dirfd's directory).
bool is_device_path(int dirfd, const char* path)
{
    if (!path || !std::strstr(path, "liveupdate"))  // most opens: no allocation, no syscall
        return false;
    try {
        std::filesystem::path p(path);
        if (p.is_relative()) {
            std::error_code ec;
            std::filesystem::path base =
                dirfd == AT_FDCWD ? std::filesystem::current_path(ec)
                                  : std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(dirfd), ec);
            if (ec)
                return false;
            p = base / p;
        }
        return p.lexically_normal() == "/dev/liveupdate";
    } catch (...) {
        return false;
    }
}

// open() of the device on the model: the fd, or -1 and errno.
int open_model_device(const char* root, int flags)
{
    try {
        luo::Device device = luo::Device::open(root);
        int fd = device.release().release();
        if (!(flags & O_CLOEXEC))
            ::fcntl(fd, F_SETFD, 0);
        return fd;
    } catch (const luo::Error& e) {
        return fail_with(e.errno_value());
    } catch (...) {
        return fail_with(ENOMEM);
    }
}

// The model's process id: the peer of a connection to its syscall socket (0 if unknown,
// e.g. for a caller that may not connect there).
pid_t model_pid(const char* root)
{
    luo::UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = luo::KernelPaths(root).model_syscall().native();
    if (!sock || path.size() >= sizeof addr.sun_path)
        return 0;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return 0;
    ucred cred{};
    socklen_t len = sizeof cred;
    return ::getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

int socket_option(int fd, int option)
{
    int value = -1;
    socklen_t len = sizeof value;
    return ::getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0 ? value : -1;
}

// Whether an ioctl on fd is one the kernel would hand to LUO. The model's device and session
// fds are AF_UNIX SOCK_SEQPACKET sockets whose peer is the model. LUO's own requests (type
// 0xBA) on such a socket are the model's whoever the peer is, as in libluo; other requests
// only when the peer is the model. The VFS's own requests (FIOCLEX, FIONBIO, ...) never are.
bool goes_to_model(const char* root, int fd, unsigned long request)
{
    switch (request) {
    case FIOCLEX:
    case FIONCLEX:
    case FIONBIO:
    case FIOASYNC:
        return false;
    default:
        break;
    }
    struct stat st;
    if (::fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return false;
    if (socket_option(fd, SO_DOMAIN) != AF_UNIX || socket_option(fd, SO_TYPE) != SOCK_SEQPACKET)
        return false;
    if (_IOC_TYPE(request) == luo::uapi::kIoctlType)
        return true;
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.pid <= 0)
        return false;
    // Remembered across calls; asked again when the model may have been restarted.
    static std::atomic<pid_t> known{0};
    if (peer.pid == known.load())
        return true;
    pid_t now = model_pid(root);
    known.store(now);
    return now != 0 && peer.pid == now;
}

// kexec_file_load(2) on the model.
long model_kexec_file_load(const char* root, int kernel_fd, int initrd_fd, unsigned long cmdline_len,
                           const char* cmdline, unsigned long flags)
{
    try {
        if (cmdline_len > 0 && !cmdline)
            return fail_with(EFAULT);
        if (cmdline_len > UINT32_MAX)
            return fail_with(EINVAL);
        wire::KexecFileLoadArgs args{flags, static_cast<std::uint32_t>(cmdline_len), 0};
        std::vector<std::byte> bytes(sizeof args + cmdline_len);
        std::memcpy(bytes.data(), &args, sizeof args);
        if (cmdline_len > 0)
            std::memcpy(bytes.data() + sizeof args, cmdline, cmdline_len);
        std::vector<int> fds;
        if (!(flags & luo::uapi::kKexecFileUnload)) {
            fds.push_back(kernel_fd);
            if (!(flags & luo::uapi::kKexecFileNoInitramfs))
                fds.push_back(initrd_fd);
        }
        int rc = luo::model::syscall_request(root, wire::kSysKexecFileLoad, bytes, fds);
        return rc < 0 ? fail_with(-rc) : 0;
    } catch (...) {
        return fail_with(ENOMEM);
    }
}

// reboot(LINUX_REBOOT_CMD_KEXEC) on the model. Like the system call, it does not return on
// success: the model ends this process with the rest of its userspace.
long model_reboot_kexec(const char* root)
{
    ::sync();
    int rc = luo::model::syscall_request(root, wire::kSysRebootKexec, {}, {});
    if (rc == -ECONNRESET) {
        for (;;)
            ::pause();
    }
    return fail_with(rc < 0 ? -rc : EPROTO);
}

// The size freeze of a preserved memfd. Only regular files without links (memfds) are
// asked about, and writes only when they would pass the end of the file.
bool size_frozen(const char* root, int fd, const struct stat& st)
{
    if (!S_ISREG(st.st_mode) || st.st_nlink != 0)
        return false;
    int fds[] = {fd};
    try {
        return luo::model::syscall_request(root, wire::kSysSizeFrozen, {}, fds) == 1;
    } catch (...) {
        return false;
    }
}

// How many of `count` bytes written at `pos` the kernel lets through while the size is frozen:
// it writes page by page and fails at the first piece that would pass the end.
std::size_t frozen_write_allowance(off_t pos, std::size_t count, off_t size)
{
    const auto page = static_cast<off_t>(::sysconf(_SC_PAGESIZE));
    std::size_t allowed = 0;
    while (allowed < count) {
        off_t at = pos + static_cast<off_t>(allowed);
        std::size_t piece = std::min<std::size_t>(count - allowed, static_cast<std::size_t>(page - at % page));
        if (at + static_cast<off_t>(piece) > size)
            break;
        allowed += piece;
    }
    return allowed;
}

// For a write of `count` bytes at `pos` (-1: the file position, or the end with O_APPEND):
// nullopt to let it through unchanged, else the number of bytes the kernel would write (0:
// the write fails with EPERM).
std::optional<std::size_t> frozen_write(int fd, off_t pos, std::size_t count)
{
    const char* root = model_root();
    struct stat st;
    if (!root || count == 0 || ::fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 0)
        return std::nullopt;
    if (pos < 0) {
        int fl = ::fcntl(fd, F_GETFL);
        pos = (fl >= 0 && (fl & O_APPEND)) ? st.st_size : ::lseek(fd, 0, SEEK_CUR);
        if (pos < 0)
            return std::nullopt;
    }
    if (pos + static_cast<off_t>(count) <= st.st_size || !size_frozen(root, fd, st))
        return std::nullopt;
    return frozen_write_allowance(pos, count, st.st_size);
}

// The same for a vector of buffers: the iovecs cut to the allowed length.
std::optional<std::vector<iovec>> frozen_writev(int fd, off_t pos, const iovec* iov, int iovcnt)
{
    if (iovcnt <= 0 || !iov)
        return std::nullopt;
    std::size_t total = 0;
    for (int i = 0; i < iovcnt; ++i)
        total += iov[i].iov_len;
    auto allowed = frozen_write(fd, pos, total);
    if (!allowed)
        return std::nullopt;
    std::vector<iovec> cut;
    for (int i = 0; i < iovcnt && *allowed > 0; ++i) {
        std::size_t len = std::min(iov[i].iov_len, *allowed);
        cut.push_back({iov[i].iov_base, len});
        *allowed -= len;
    }
    return cut;
}

bool resize_refused(int fd, off_t length)
{
    const char* root = model_root();
    struct stat st;
    return root && ::fstat(fd, &st) == 0 && length != st.st_size && size_frozen(root, fd, st);
}

// fallocate(2) on a frozen memfd: EPERM once the arguments pass the VFS and shmem checks.
bool fallocate_refused(int fd, int mode, off_t offset, off_t len)
{
    const char* root = model_root();
    struct stat st;
    if (!root || offset < 0 || len <= 0 || (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)))
        return false;
    return ::fstat(fd, &st) == 0 && size_frozen(root, fd, st);
}

int open_common(int dirfd, const char* path, int flags, mode_t mode, bool at)
{
    if (const char* root = model_root(); root && is_device_path(dirfd, path))
        return open_model_device(root, flags);
    if (at)
        return REAL(openat)(dirfd, path, flags, mode);
    return REAL(open)(path, flags, mode);
}

mode_t mode_argument(int flags, va_list ap)
{
    bool wants_mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
    return wants_mode ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int open(const char* path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_argument(flags, ap);
    va_end(ap);
    return open_common(AT_FDCWD, path, flags, mode, false);
}

__attribute__((visibility("default"))) int open64(const char* path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_argument(flags, ap);
    va_end(ap);
    return open_common(AT_FDCWD, path, flags | O_LARGEFILE, mode, false);
}

__attribute__((visibility("default"))) int openat(int dirfd, const char* path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_argument(flags, ap);
    va_end(ap);
    return open_common(dirfd, path, flags, mode, true);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char* path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_argument(flags, ap);
    va_end(ap);
    return open_common(dirfd, path, flags | O_LARGEFILE, mode, true);
}

// _FORTIFY_SOURCE variants (no mode argument).
__attribute__((visibility("default"))) int __open_2(const char* path, int flags)
{
    return open_common(AT_FDCWD, path, flags, 0, false);
}
__attribute__((visibility("default"))) int __open64_2(const char* path, int flags)
{
    return open_common(AT_FDCWD, path, flags | O_LARGEFILE, 0, false);
}
__attribute__((visibility("default"))) int __openat_2(int dirfd, const char* path, int flags)
{
    return open_common(dirfd, path, flags, 0, true);
}
__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char* path, int flags)
{
    return open_common(dirfd, path, flags | O_LARGEFILE, 0, true);
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request, ...) noexcept
{
    va_list ap;
    va_start(ap, request);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if (const char* root = model_root(); root && goes_to_model(root, fd, request)) {
        int rc = luo::raw_ioctl(fd, request, arg);
        return rc < 0 ? fail_with(-rc) : 0;
    }
    return REAL(ioctl)(fd, request, arg);
}

__attribute__((visibility("default"))) long syscall(long number, ...) noexcept
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& x : a)
        x = va_arg(ap, long);
    va_end(ap);
    if (const char* root = model_root()) {
        if (number == SYS_kexec_file_load)
            return model_kexec_file_load(root, static_cast<int>(a[0]), static_cast<int>(a[1]),
                                         static_cast<unsigned long>(a[2]), reinterpret_cast<const char*>(a[3]),
                                         static_cast<unsigned long>(a[4]));
        if (number == SYS_reboot) {
            if (static_cast<unsigned>(a[0]) != LINUX_REBOOT_MAGIC1)
                return fail_with(EINVAL);
            return static_cast<unsigned>(a[2]) == LINUX_REBOOT_CMD_KEXEC ? model_reboot_kexec(root) : fail_with(EPERM);
        }
    }
    return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

__attribute__((visibility("default"))) int reboot(int howto) noexcept
{
    if (const char* root = model_root())
        return howto == RB_KEXEC ? static_cast<int>(model_reboot_kexec(root)) : fail_with(EPERM);
    return REAL(reboot)(howto);
}

__attribute__((visibility("default"))) int ftruncate(int fd, off_t length) noexcept
{
    if (resize_refused(fd, length))
        return fail_with(EPERM);
    return REAL(ftruncate)(fd, length);
}

__attribute__((visibility("default"))) int ftruncate64(int fd, off64_t length) noexcept
{
    if (resize_refused(fd, length))
        return fail_with(EPERM);
    return REAL(ftruncate64)(fd, length);
}

__attribute__((visibility("default"))) int fallocate(int fd, int mode, off_t offset, off_t len)
{
    if (fallocate_refused(fd, mode, offset, len))
        return fail_with(EPERM);
    return REAL(fallocate)(fd, mode, offset, len);
}

__attribute__((visibility("default"))) int fallocate64(int fd, int mode, off64_t offset, off64_t len)
{
    if (fallocate_refused(fd, mode, offset, len))
        return fail_with(EPERM);
    return REAL(fallocate64)(fd, mode, offset, len);
}

// Returns the error number instead of setting errno.
__attribute__((visibility("default"))) int posix_fallocate(int fd, off_t offset, off_t len)
{
    if (fallocate_refused(fd, 0, offset, len))
        return EPERM;
    return REAL(posix_fallocate)(fd, offset, len);
}

__attribute__((visibility("default"))) int posix_fallocate64(int fd, off64_t offset, off64_t len)
{
    if (fallocate_refused(fd, 0, offset, len))
        return EPERM;
    return REAL(posix_fallocate64)(fd, offset, len);
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t count)
{
    if (auto allowed = frozen_write(fd, -1, count)) {
        if (*allowed == 0)
            return fail_with(EPERM);
        count = *allowed;
    }
    return REAL(write)(fd, buf, count);
}

__attribute__((visibility("default"))) ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset)
{
    if (auto allowed = frozen_write(fd, offset, count)) {
        if (*allowed == 0)
            return fail_with(EPERM);
        count = *allowed;
    }
    return REAL(pwrite)(fd, buf, count, offset);
}

__attribute__((visibility("default"))) ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset)
{
    if (auto allowed = frozen_write(fd, offset, count)) {
        if (*allowed == 0)
            return fail_with(EPERM);
        count = *allowed;
    }
    return REAL(pwrite64)(fd, buf, count, offset);
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const struct iovec* iov, int iovcnt)
{
    if (auto cut = frozen_writev(fd, -1, iov, iovcnt)) {
        if (cut->empty())
            return fail_with(EPERM);
        return REAL(writev)(fd, cut->data(), static_cast<int>(cut->size()));
    }
    return REAL(writev)(fd, iov, iovcnt);
}

__attribute__((visibility("default"))) ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset)
{
    if (auto cut = frozen_writev(fd, offset, iov, iovcnt)) {
        if (cut->empty())
            return fail_with(EPERM);
        return REAL(pwritev)(fd, cut->data(), static_cast<int>(cut->size()), offset);
    }
    return REAL(pwritev)(fd, iov, iovcnt, offset);
}

}  // extern "C"
