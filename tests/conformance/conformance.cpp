// SPDX-License-Identifier: Apache-2.0
// luo-conformance: one scenario through every errno path and ordering rule of the LUO uAPI,
// written for the kernel (open, ioctl, memfd_create, ftruncate... on /dev/liveupdate, no
// libluo device code), printing one line per case: "<case>: <answer>". The same binary runs
// on a real LUO kernel and, preloaded with libluo-model-preload.so, on luo-kernel-model; the
// outputs are compared with the answers recorded from Linux 7.2.13 (expected/7.2.13.txt),
// and every difference allowed for the model is listed, with its reason, in README.md.
//   luo-conformance stage1 [--kexec KERNEL INITRD|- CMDLINE]   (boot 1; ends with the kexec)
//   luo-conformance stage2                                    (the next boot)
// Stage 1 keeps its sessions open and runs luo-do-kexec (next to this program, or on PATH)
// in a child; the kexec ends them both.
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "luo/error.h"
#include "luo/uapi.h"

namespace {

namespace uapi = luo::uapi;

// ---- output ---------------------------------------------------------------------------

void line(const std::string& name, const std::string& answer)
{
    std::printf("%s: %s\n", name.c_str(), answer.c_str());
    std::fflush(stdout);  // before any fork, and so a crash loses nothing
}

// "ok" or the errno's name, from 0 / -errno (or an fd / a count, which are "ok").
std::string answer(long rc) { return rc < 0 ? luo::errno_name(static_cast<int>(-rc)) : "ok"; }

void report(const std::string& name, long rc) { line(name, answer(rc)); }

// A byte count, or the errno's name.
std::string count(long rc) { return rc < 0 ? answer(rc) : std::to_string(rc); }

// A setup step that cannot fail on a sane machine; if it does, the run means nothing.
void setup(bool ok, const char* what)
{
    if (!ok) {
        std::fprintf(stderr, "conformance: %s failed: %s\n", what, std::strerror(errno));
        std::exit(2);
    }
}

std::string hex2(unsigned nr)
{
    char text[8];
    std::snprintf(text, sizeof text, "%02x", nr);
    return text;
}

long check(long rc) { return rc < 0 ? -errno : rc; }

// ---- the uAPI, called as a kernel program calls it ------------------------------------

constexpr const char* kDevice = "/dev/liveupdate";

int open_device(int flags = O_RDWR | O_CLOEXEC) { return static_cast<int>(check(::open(kDevice, flags))); }

int ioctl_raw(int fd, unsigned long request, void* arg) { return static_cast<int>(check(::ioctl(fd, request, arg))); }

// A request buffer of `size` bytes (at least the kernel's struct), 8-byte aligned, whose
// first word is `size` unless told otherwise.
struct Buffer {
    explicit Buffer(std::size_t bytes, std::uint32_t size_field)
        : words((std::max<std::size_t>(bytes, 128) + 7) / 8, 0)
    {
        std::memcpy(data(), &size_field, sizeof size_field);
    }
    std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(words.data()); }
    template <typename T>
    T* as() { return reinterpret_cast<T*>(words.data()); }
    std::vector<std::uint64_t> words;
};

int named_ioctl(int dev, unsigned long request, const void* name, std::size_t len, std::uint32_t size = 72,
                std::size_t bytes = 72)
{
    Buffer b(bytes, size);
    std::memcpy(b.data() + 8, name, std::min<std::size_t>(len, 64));
    int rc = ioctl_raw(dev, request, b.data());
    return rc < 0 ? rc : b.as<uapi::liveupdate_ioctl_create_session>()->fd;
}

int create(int dev, const std::string& name)
{
    return named_ioctl(dev, uapi::kIoctlCreateSession, name.data(), name.size());
}

int retrieve(int dev, const std::string& name)
{
    return named_ioctl(dev, uapi::kIoctlRetrieveSession, name.data(), name.size());
}

int preserve(int session, int fd, std::uint64_t token, std::uint32_t size = 16)
{
    Buffer b(size, size);
    auto* a = b.as<uapi::liveupdate_session_preserve_fd>();
    a->fd = fd;
    a->token = token;
    return ioctl_raw(session, uapi::kSessionPreserveFd, b.data());
}

int retrieve_fd(int session, std::uint64_t token)
{
    uapi::liveupdate_session_retrieve_fd a{};
    a.size = sizeof a;
    a.fd = -1;
    a.token = token;
    int rc = ioctl_raw(session, uapi::kSessionRetrieveFd, &a);
    return rc < 0 ? rc : a.fd;
}

int finish(int session, std::uint32_t reserved = 0, std::uint32_t size = 8)
{
    uapi::liveupdate_session_finish a{size, reserved};
    return ioctl_raw(session, uapi::kSessionFinish, &a);
}

// GET_NAME: the name, or the errno name.
std::string get_name(int session, std::uint32_t reserved = 0, std::uint32_t size = 72)
{
    uapi::liveupdate_session_get_name a{};
    a.size = size;
    a.reserved = reserved;
    int rc = ioctl_raw(session, uapi::kSessionGetName, &a);
    if (rc < 0)
        return answer(rc);
    return std::string(reinterpret_cast<const char*>(a.name), strnlen(reinterpret_cast<const char*>(a.name), 64));
}

// ---- files ------------------------------------------------------------------------------

int make_memfd(const std::string& text = "", off_t size = -1, unsigned flags = MFD_CLOEXEC)
{
    int fd = ::memfd_create("conformance", flags);
    if (fd < 0)
        return -errno;
    if (!text.empty() && ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        return -errno;
    if (size >= 0 && ::ftruncate(fd, size) < 0)
        return -errno;
    return fd;
}

std::string read_at(int fd, off_t at, std::size_t n)
{
    std::string s(n, '\0');
    ssize_t got = ::pread(fd, s.data(), n, at);
    s.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return s.c_str();  // up to the first NUL
}

off_t size_of(int fd)
{
    struct stat st{};
    return ::fstat(fd, &st) == 0 ? st.st_size : -1;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

bool cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

void close_fd(int& fd)
{
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

// Runs fn in a child and returns what it returned (0..255).
template <typename Fn>
int in_child(Fn fn)
{
    std::fflush(stdout);
    pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(fn());
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

// An errno carried through a child's exit status.
std::string child_answer(int status) { return status == 0 ? "ok" : luo::errno_name(status); }

// ---- stage 1 ----------------------------------------------------------------------------

void device_open_rules()
{
    int dev = open_device(O_RDWR);
    report("open", dev);
    line("open.fd-cloexec-without-O_CLOEXEC", yes_no(cloexec(dev)));
    report("open.second-same-process", open_device());
    line("open.second-from-child", child_answer(in_child([] { return -std::min(open_device(), 0); })));
    if (::geteuid() == 0) {
        line("open.unprivileged", child_answer(in_child([] {
                 if (::setgroups(0, nullptr) < 0 || ::setresgid(65534, 65534, 65534) < 0 ||
                     ::setresuid(65534, 65534, 65534) < 0)
                     return 127;
                 return -std::min(open_device(), 0);
             })));
    }
    int dup = ::dup(dev);
    close_fd(dev);
    report("open.while-a-dup-is-open", open_device());
    close_fd(dup);
    dev = open_device();
    report("open.after-close", dev);
    line("open.fd-cloexec-with-O_CLOEXEC", yes_no(cloexec(dev)));
    close_fd(dev);
}

void name_rules(int dev)
{
    report("create.empty-name", create(dev, ""));
    int s63 = create(dev, std::string(63, 'n'));
    report("create.63-byte-name", s63);
    line("get-name.63-byte-name", get_name(s63) == std::string(63, 'n') ? "equal" : get_name(s63));
    std::string x64(64, 'x');
    report("create.64-bytes-without-nul", create(dev, x64));
    const char with_tail[] = "abc\0garbage";
    int abc = named_ioctl(dev, uapi::kIoctlCreateSession, with_tail, sizeof with_tail);
    report("create.bytes-after-the-nul", abc);
    line("get-name.bytes-after-the-nul", get_name(abc));
    report("create.duplicate", create(dev, "abc"));
    int upper = create(dev, "ABC");
    report("create.other-case", upper);
    std::string odd = "a/b c\t\xff~";
    int odd_fd = create(dev, odd);
    report("create.slash-space-tab-high-byte", odd_fd);
    line("get-name.slash-space-tab-high-byte", get_name(odd_fd) == odd ? "equal" : "different");
    for (int fd : {s63, abc, upper, odd_fd})
        ::close(fd);
    report("create.name-free-after-close", [&] {
        int fd = create(dev, "abc");
        if (fd >= 0)
            ::close(fd);
        return fd;
    }());
}

void struct_size_rules(int dev)
{
    auto sized_create = [&](std::uint32_t size, std::size_t bytes, bool dirty_tail) {
        Buffer b(bytes, size);
        std::memcpy(b.data() + 8, "sized", 5);
        if (dirty_tail)
            b.data()[bytes - 1] = 1;
        int rc = ioctl_raw(dev, uapi::kIoctlCreateSession, b.data());
        if (rc == 0)
            ::close(b.as<uapi::liveupdate_ioctl_create_session>()->fd);
        return rc;
    };
    report("create.size-0", sized_create(0, 72, false));
    report("create.size-71", sized_create(71, 72, false));
    report("create.size-80-zero-tail", sized_create(80, 80, false));
    report("create.size-80-non-zero-tail", sized_create(80, 80, true));
    report("create.size-8192-zero-tail", sized_create(8192, 8192, false));
    report("create.size-8192-non-zero-last-byte", sized_create(8192, 8192, true));
    report("create.null-argument", ioctl_raw(dev, uapi::kIoctlCreateSession, nullptr));
    long page = ::sysconf(_SC_PAGESIZE);
    void* none = ::mmap(nullptr, static_cast<std::size_t>(page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    report("create.unreadable-argument", ioctl_raw(dev, uapi::kIoctlCreateSession, none));
    // The size word readable, the rest of the struct not: the last 4 bytes of a page.
    auto* two = static_cast<std::uint8_t*>(::mmap(nullptr, static_cast<std::size_t>(2 * page), PROT_READ | PROT_WRITE,
                                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ::mprotect(two + page, static_cast<std::size_t>(page), PROT_NONE);
    std::uint32_t size = 72;
    std::memcpy(two + page - 4, &size, sizeof size);
    report("create.struct-crosses-into-unreadable", ioctl_raw(dev, uapi::kIoctlCreateSession, two + page - 4));
    ::munmap(two, static_cast<std::size_t>(2 * page));
    ::munmap(none, static_cast<std::size_t>(page));
}

void unknown_ioctl_rules(int dev, int session)
{
    Buffer b(128, 72);
    std::memcpy(b.data() + 8, "unknown", 7);
    for (unsigned nr : {0x02u, 0x07u, 0x40u, 0xffu})
        report("device.nr-0x" + hex2(nr), ioctl_raw(dev, uapi::ioctl_request(nr), b.data()));
    report("device.create-encoded-_IOWR",
           ioctl_raw(dev, _IOWR(0xBA, 0x00, uapi::liveupdate_ioctl_create_session), b.data()));
    report("device.foreign-type-nr-0", ioctl_raw(dev, _IO('X', 0x00), b.data()));
    termios t{};
    report("device.TCGETS", ioctl_raw(dev, TCGETS, &t));
    int n = 0;
    report("device.FIONREAD", ioctl_raw(dev, FIONREAD, &n));
    report("device.FIOCLEX", ioctl_raw(dev, FIOCLEX, nullptr));

    Buffer s(128, 72);
    for (unsigned nr : {0x00u, 0x3fu, 0x44u, 0x4fu})
        report("session.nr-0x" + hex2(nr), ioctl_raw(session, uapi::ioctl_request(nr), s.data()));
    report("session.preserve-encoded-_IOW", ioctl_raw(session, _IOW(0xBA, 0x40, 16), s.data()));
    report("session.FIONREAD", ioctl_raw(session, FIONREAD, &n));
}

void session_kind_rules(int dev, int session)
{
    line("get-name", get_name(session));
    line("get-name.reserved-1", get_name(session, 1));
    line("get-name.size-71", get_name(session, 0, 71));
    report("outgoing.retrieve-fd", retrieve_fd(session, 1));
    report("outgoing.finish", finish(session));
    report("outgoing.finish-reserved-1", finish(session, 1));
    report("retrieve-session.unknown-name", retrieve(dev, "no-such-session"));
    report("retrieve-session.outgoing-name", retrieve(dev, "kinds"));
    report("retrieve-session.empty-name", retrieve(dev, ""));
    std::string x64(64, 'x');
    report("retrieve-session.64-bytes-without-nul", named_ioctl(dev, uapi::kIoctlRetrieveSession, x64.data(), 64));
    line("session.fd-cloexec", yes_no(cloexec(session)));
}

void preserve_fd_rules(int dev, int session)
{
    int m = make_memfd("sized");
    report("preserve.size-15", preserve(session, m, 1, 15));
    {
        Buffer b(24, 24);
        auto* a = b.as<uapi::liveupdate_session_preserve_fd>();
        a->fd = m;
        a->token = 1;
        b.data()[20] = 1;
        report("preserve.size-24-non-zero-tail", ioctl_raw(session, uapi::kSessionPreserveFd, b.data()));
    }
    report("preserve.size-24-zero-tail", preserve(session, m, 1, 24));
    report("preserve.null-argument", ioctl_raw(session, uapi::kSessionPreserveFd, nullptr));
    close_fd(m);

    int p[2];
    setup(::pipe2(p, O_CLOEXEC) == 0, "pipe2");
    report("preserve.pipe", preserve(session, p[0], 10));
    ::close(p[0]);
    ::close(p[1]);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    report("preserve.dev-null", preserve(session, null, 10));
    ::close(null);
    int sv[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    report("preserve.unix-socket", preserve(session, sv[0], 10));
    ::close(sv[0]);
    ::close(sv[1]);
    report("preserve.the-device-fd", preserve(session, dev, 10));
    int other = create(dev, "other-session");
    report("preserve.another-session-fd", preserve(session, other, 10));
    report("preserve.its-own-session-fd", preserve(session, session, 10));
    close_fd(other);
    report("preserve.fd-999", preserve(session, 999, 10));
    report("preserve.fd-minus-1", preserve(session, -1, 10));

    std::string linked = "/dev/shm/luo-conformance-" + std::to_string(::getpid());
    int tmpfs = ::open(linked.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    report("preserve.linked-tmpfs-file", preserve(session, tmpfs, 11));
    ::unlink(linked.c_str());
    report("preserve.tmpfs-file-after-unlink", preserve(session, tmpfs, 11));
    close_fd(tmpfs);
    int tmpfile = ::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    report("preserve.tmpfs-O_TMPFILE", tmpfile < 0 ? tmpfile : preserve(session, tmpfile, 12));
    close_fd(tmpfile);
    m = make_memfd();
    report("preserve.memfd-size-0", preserve(session, m, 13));
    close_fd(m);
    struct Seal {
        const char* name;
        int seals;
    };
    std::uint64_t token = 14;
    for (Seal seal : {Seal{"write", F_SEAL_WRITE}, Seal{"future-write", F_SEAL_FUTURE_WRITE},
                      Seal{"grow-shrink-seal", F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL},
                      Seal{"exec", uapi::kSealExec}}) {
        m = make_memfd("sealed", -1, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        int rc = static_cast<int>(check(::fcntl(m, F_ADD_SEALS, seal.seals)));
        report(std::string("preserve.memfd-sealed-") + seal.name, rc < 0 ? rc : preserve(session, m, token++));
        close_fd(m);
    }
}

void double_preservation_rules(int dev, int session)
{
    int other = create(dev, "double-other");
    int m = make_memfd("twice", 8192);
    report("double.first", preserve(session, m, 100));
    report("double.same-session-other-token", preserve(session, m, 101));
    report("double.other-session", preserve(other, m, 100));
    int dup = ::dup(m);
    report("double.a-dup", preserve(other, dup, 102));
    close_fd(dup);
    int reopened = ::open(("/proc/self/fd/" + std::to_string(m)).c_str(), O_RDWR | O_CLOEXEC);
    report("double.reopened-same-inode", preserve(other, reopened, 103));
    close_fd(reopened);
    int m2 = make_memfd("second");
    report("token.used-in-session", preserve(session, m2, 100));
    report("token.used-and-fd-999", preserve(session, 999, 100));
    report("token.used-in-other-session-only", preserve(other, m2, 100));
    int m3 = make_memfd("zero");
    report("token.0", preserve(session, m3, 0));
    close_fd(m3);
    m3 = make_memfd("max");
    report("token.max", preserve(session, m3, UINT64_MAX));
    close_fd(m3);
    close_fd(m2);

    // m (8192 bytes) is preserved in `session`: its size is frozen.
    report("frozen.ftruncate-grow", check(::ftruncate(m, 16384)));
    report("frozen.ftruncate-shrink", check(::ftruncate(m, 4096)));
    report("frozen.ftruncate-same-size", check(::ftruncate(m, 8192)));
    report("frozen.fallocate", check(::fallocate(m, 0, 0, 4096)));
    report("frozen.fallocate-keep-size", check(::fallocate(m, FALLOC_FL_KEEP_SIZE, 8192, 4096)));
    report("frozen.fallocate-punch-hole", check(::fallocate(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096)));
    report("frozen.fallocate-collapse-range", check(::fallocate(m, FALLOC_FL_COLLAPSE_RANGE, 0, 4096)));
    line("frozen.posix_fallocate", answer(-::posix_fallocate(m, 0, 16384)));
    line("frozen.pwrite-within", count(check(::pwrite(m, "inside", 6, 100))));
    line("frozen.pwrite-at-end", count(check(::pwrite(m, "beyond", 6, 8192))));
    // The kernel writes page by page and stops at the first piece that would pass the end.
    line("frozen.pwrite-crossing-the-end", count(check(::pwrite(m, std::string(100, 'c').data(), 100, 8150))));
    ::lseek(m, 8190, SEEK_SET);
    line("frozen.write-crossing-the-end", count(check(::write(m, "cross", 5))));
    auto* map = static_cast<char*>(::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0));
    std::memcpy(map + 4096, "mapped", 7);
    ::munmap(map, 8192);
    line("frozen.write-through-a-mapping", read_at(m, 4096, 7));
    line("frozen.size", std::to_string(size_of(m)));

    // Closing the session unpreserves: the file is free again.
    close_fd(session);
    report("close.unfrozen-after-session-close", check(::ftruncate(m, 16384)));
    report("close.preservable-after-session-close", preserve(other, m, 104));
    close_fd(other);
    close_fd(m);
}

void close_rules(int& dev)
{
    int s = create(dev, "dup-held");
    int d = ::dup(s);
    ::close(s);
    report("close.dup-keeps-the-session", create(dev, "dup-held"));
    ::close(d);
    int again = create(dev, "dup-held");
    report("close.last-dup-closed", again);
    close_fd(again);

    int held = create(dev, "child-held");
    std::fflush(stdout);
    int ready[2];
    setup(::pipe2(ready, O_CLOEXEC) == 0, "pipe2");
    pid_t child = ::fork();
    if (child == 0) {
        ::close(ready[0]);
        ::close(ready[1]);
        for (;;)
            ::pause();
    }
    ::close(ready[0]);
    ::close(ready[1]);
    ::close(held);
    report("fork.child-keeps-the-session", create(dev, "child-held"));
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    held = create(dev, "child-held");
    report("fork.gone-with-the-child", held);
    close_fd(held);

    int kept = create(dev, "outlives-device");
    close_fd(dev);
    dev = open_device();
    report("close.device-keeps-sessions", create(dev, "outlives-device"));
    close_fd(kept);
}

struct Carried {
    std::vector<int> fds;
};

// Sessions for stage 2; their fds stay open in this process until the kexec.
Carried prepare_handover(int dev)
{
    Carried c;
    int a = create(dev, "conf-a");
    int m1 = make_memfd("alpha", 8192);
    preserve(a, m1, 1);
    auto* map = static_cast<char*>(::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m1, 0));
    std::memcpy(map + 4096, "written after preservation", 27);
    ::munmap(map, 8192);
    ::lseek(m1, 123, SEEK_SET);  // the position is read again when the kernel freezes
    ::close(m1);
    int m2 = make_memfd();
    preserve(a, m2, 2);
    ::close(m2);
    int m3 = make_memfd("sealed", 4096, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ::fcntl(m3, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
    preserve(a, m3, 3);
    ::close(m3);
    int tmp = ::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    setup(::pwrite(tmp, "tmpfile", 7, 0) == 7, "pwrite of the O_TMPFILE file");
    preserve(a, tmp, 4);
    ::close(tmp);
    int mmax = make_memfd("max token");
    preserve(a, mmax, UINT64_MAX);
    ::close(mmax);
    c.fds.push_back(a);

    int b = create(dev, "conf-b");
    int m7 = make_memfd("never retrieved", 1 << 20);
    preserve(b, m7, 7);
    ::close(m7);
    c.fds.push_back(b);
    c.fds.push_back(create(dev, "conf-empty"));
    int implicit = create(dev, "conf-implicit");
    int mi = make_memfd("implicit");
    preserve(implicit, mi, 1);
    ::close(mi);
    c.fds.push_back(implicit);
    int closed = create(dev, "conf-closed");
    int mc = make_memfd("closed");
    preserve(closed, mc, 1);
    ::close(mc);
    ::close(closed);
    report("handover.prepared", 0);
    return c;
}

int stage1(const std::vector<std::string>& kexec)
{
    device_open_rules();
    int dev = open_device();
    name_rules(dev);
    struct_size_rules(dev);
    int kinds = create(dev, "kinds");
    unknown_ioctl_rules(dev, kinds);
    session_kind_rules(dev, kinds);
    preserve_fd_rules(dev, kinds);
    close_fd(kinds);
    int doubles = create(dev, "doubles");
    double_preservation_rules(dev, doubles);
    close_rules(dev);
    Carried carried = prepare_handover(dev);
    close_fd(dev);
    if (kexec.empty())
        return 0;

    // The kexec in a child: this process keeps the sessions open through it.
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
    std::string tool = (self.parent_path() / "luo-do-kexec").native();
    if (::access(tool.c_str(), X_OK) != 0)
        tool = "luo-do-kexec";
    std::vector<std::string> args{tool, kexec[0]};
    if (kexec[1] != "-")
        args.push_back(kexec[1]);
    args.insert(args.end(), {"--append", kexec[2]});
    std::fflush(stdout);
    pid_t pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::fprintf(stderr, "luo-conformance: the kexec did not happen (luo-do-kexec status %d)\n", status);
    return 1;
}

// ---- stage 2 ----------------------------------------------------------------------------

int stage2()
{
    int dev = open_device();
    report("incoming.open", dev);
    report("incoming.second-open", open_device());
    report("incoming.retrieve-unknown", retrieve(dev, "no-such-session"));
    report("incoming.retrieve-closed-before-kexec", retrieve(dev, "conf-closed"));
    report("incoming.retrieve-empty-name", retrieve(dev, ""));
    int a = retrieve(dev, "conf-a");
    report("incoming.retrieve", a);
    report("incoming.retrieve-twice", retrieve(dev, "conf-a"));
    line("incoming.fd-cloexec", yes_no(cloexec(a)));
    int out = create(dev, "conf-a");
    report("incoming.create-outgoing-with-its-name", out);
    line("incoming.get-name", get_name(a));
    int m = make_memfd("new");
    report("incoming.preserve-into-incoming", preserve(a, m, 50));
    close_fd(m);
    report("incoming.retrieve-fd-unknown-token", retrieve_fd(a, 999));

    int f1 = retrieve_fd(a, 1);
    report("retrieved.memfd", f1);
    line("retrieved.contents", read_at(f1, 0, 6) + "|" + read_at(f1, 4096, 27));
    line("retrieved.size", std::to_string(size_of(f1)));
    line("retrieved.position", std::to_string(::lseek(f1, 0, SEEK_CUR)));
    line("retrieved.fd-cloexec", yes_no(cloexec(f1)));
    line("retrieved.name", [&] {
        std::error_code ec;
        return std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(f1), ec).native();
    }());
    line("retrieved.seals-without-allow-sealing", std::to_string(::fcntl(f1, F_GET_SEALS)));
    int f1b = retrieve_fd(a, 1);
    report("retrieved.again", f1b);
    ::lseek(f1b, 7, SEEK_SET);
    line("retrieved.again-shares-the-open-file", yes_no(::lseek(f1, 0, SEEK_CUR) == 7));
    close_fd(f1b);
    int f2 = retrieve_fd(a, 2);
    line("retrieved.empty-memfd-size", std::to_string(size_of(f2)));
    report("retrieved.not-frozen-before-finish", check(::ftruncate(f2, 4096)));
    int f3 = retrieve_fd(a, 3);
    line("retrieved.seals", std::to_string(::fcntl(f3, F_GET_SEALS)));
    report("retrieved.seals-still-apply", check(::ftruncate(f3, 8192)));
    int f4 = retrieve_fd(a, 4);
    line("retrieved.tmpfile-contents", read_at(f4, 0, 7));
    int fmax = retrieve_fd(a, UINT64_MAX);
    line("retrieved.max-token", read_at(fmax, 0, 9));
    report("retrieved.preserve-before-finish", preserve(out, f1, 1));

    report("finish.reserved-1", finish(a, 1));
    report("finish.reserved-1-changed-nothing", [&] {
        int fd = retrieve_fd(a, 1);
        if (fd >= 0)
            ::close(fd);
        return fd;
    }());
    report("finish.size-4", finish(a, 0, 4));
    report("finish", finish(a));
    report("finish.twice", finish(a));
    report("finish.retrieve-fd-after", retrieve_fd(a, 1));
    line("finish.get-name-after", get_name(a));
    report("retrieved.preserve-after-finish", preserve(out, f1, 1));
    line("retrieved.contents-after-finish", read_at(f1, 0, 6));
    close_fd(a);
    report("incoming.retrieve-after-close", retrieve(dev, "conf-a"));

    int b = retrieve(dev, "conf-b");
    report("unretrieved.finish", finish(b));
    report("unretrieved.retrieve-fd-after-finish", retrieve_fd(b, 7));
    close_fd(b);
    int e = retrieve(dev, "conf-empty");
    report("empty.finish", finish(e));
    close_fd(e);

    int implicit = retrieve(dev, "conf-implicit");
    int fi = retrieve_fd(implicit, 1);
    close_fd(implicit);
    report("implicit-finish.session-gone", retrieve(dev, "conf-implicit"));
    report("implicit-finish.file-free", preserve(out, fi, 2));
    line("implicit-finish.contents", read_at(fi, 0, 8));

    for (int fd : {f1, f2, f3, f4, fmax, fi, out, dev})
        ::close(fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "stage2")
        return stage2();
    if (!args.empty() && args[0] == "stage1") {
        if (args.size() == 1)
            return stage1({});
        if (args.size() == 5 && args[1] == "--kexec")
            return stage1({args[2], args[3], args[4]});
    }
    std::fprintf(stderr, "usage: luo-conformance stage1 [--kexec KERNEL INITRD|- CMDLINE] | stage2\n");
    return 2;
}
