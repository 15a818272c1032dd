// SPDX-License-Identifier: Apache-2.0
#include "fd_reaper.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <string>
#include <string_view>
#include <cstdio>
#include <cstring>

#include "file_classifier.h"

namespace luod {

namespace {

int plain_close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }

// The mount of `fd` from /proc/self/fdinfo, -1 when unknown; `open_failed` says whether
// even the fdinfo file could not be opened (no such fd: -1 with false).
int mount_id_of(int fd, bool& no_such_fd)
{
    no_such_fd = false;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int info = ::open(path, O_RDONLY | O_CLOEXEC);
    if (info < 0) {
        no_such_fd = errno == ENOENT;
        return -1;
    }
    char buf[512];
    ssize_t n = ::read(info, buf, sizeof buf);
    plain_close(info);
    unsigned flags = 0;
    int mount_id = -1;
    if (n <= 0 || !parse_fdinfo(std::string_view(buf, static_cast<std::size_t>(n)), flags, mount_id))
        return -1;
    return mount_id;
}

// The guard's state: which thread it guards, the file systems it knows to be safe, where
// the other closes go. Process-wide by nature (close() is); set before anything closes on
// the guarded thread, read only by it.
struct Guard {
    std::atomic<FdReaper*> reaper{nullptr};
    pid_t thread = 0;
    std::set<int> safe_mounts;
    std::set<int> unsafe_mounts;  // looked up: FUSE, network, or not in luod's mount table
};

// Local file systems, whose close never waits on anyone else. FUSE, network file systems
// and anything unknown are not on the list.
bool local_file_system(std::string_view type)
{
    for (std::string_view local : {"tmpfs", "ramfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "vfat",
                                   "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "bpf", "mqueue",
                                   "hugetlbfs", "securityfs", "debugfs", "tracefs", "configfs", "pstore",
                                   "fusectl", "binfmt_misc", "autofs", "efivarfs"})
        if (type == local)
            return true;
    return false;
}

// Whether the mount `id` of luod's own mount table is a local file system. A mount of
// another namespace (a user's unshare'd one) is not in the table: not local.
bool local_mount(int id)
{
    int fd = ::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    std::string table;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        table.append(buf, static_cast<std::size_t>(n));
    plain_close(fd);
    std::string_view rest(table);
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the id first, the
    // type after " - ".
    while (!rest.empty()) {
        std::size_t end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        int line_id = -1;
        auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), line_id);
        if (ec != std::errc() || line_id != id)
            continue;
        std::size_t dash = line.find(" - ");
        if (dash == std::string_view::npos)
            return false;
        std::string_view type = line.substr(dash + 3);
        return local_file_system(type.substr(0, type.find(' ')));
    }
    return false;
}

// Whether closing a file of mount `id` can wait on anyone: learned at start, or looked up.
bool safe_mount(Guard& g, int id)
{
    if (id < 0 || g.unsafe_mounts.count(id))
        return false;
    if (g.safe_mounts.count(id))
        return true;
    bool local = local_mount(id);
    (local ? g.safe_mounts : g.unsafe_mounts).insert(id);
    return local;
}

Guard& guard()
{
    static Guard g;
    return g;
}

void learn_mount(int fd)
{
    if (fd < 0)
        return;
    bool no_such_fd = false;
    int mount_id = mount_id_of(fd, no_such_fd);
    if (mount_id >= 0)
        guard().safe_mounts.insert(mount_id);
    plain_close(fd);
}

}  // namespace

FdReaper::FdReaper() : state_(std::make_shared<State>())
{
    state_->lanes.resize(kLanes);
    for (std::size_t i = 0; i < kLanes; ++i)
        state_->lanes[i].thread = std::thread(run, state_, i);
}

FdReaper::~FdReaper()
{
    std::unique_lock lock(state_->mutex);
    state_->stopping = true;
    state_->work.notify_all();
    for (Lane& lane : state_->lanes) {
        // A lane still closing is held by a file system that does not answer: it finishes
        // on its own, keeping the state it needs.
        if (lane.busy || !lane.fds.empty()) {
            lane.thread.detach();
        } else {
            lock.unlock();
            lane.thread.join();
            lock.lock();
        }
    }
}

void FdReaper::close_later(int fd, int mount_id)
{
    std::size_t lane = static_cast<std::size_t>(mount_id < 0 ? 0 : mount_id) % kLanes;
    std::lock_guard lock(state_->mutex);
    state_->lanes[lane].fds.push_back(fd);
    ++state_->unfinished;
    state_->work.notify_all();
}

std::size_t FdReaper::unfinished() const
{
    std::lock_guard lock(state_->mutex);
    return state_->unfinished;
}

void FdReaper::run(std::shared_ptr<State> state, std::size_t index)
{
    // Signals are luod's thread's to handle (SIGTERM ends the event loop there).
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock lock(state->mutex);
    Lane& lane = state->lanes[index];
    for (;;) {
        state->work.wait(lock, [&] { return state->stopping || !lane.fds.empty(); });
        if (lane.fds.empty())
            return;  // stopping, nothing left
        int fd = lane.fds.front();
        lane.fds.pop_front();
        lane.busy = true;
        lock.unlock();
        plain_close(fd);  // may wait for the file system's answer: this lane waits with it
        lock.lock();
        lane.busy = false;
        --state->unfinished;
    }
}

namespace close_guard {

void install(FdReaper& reaper)
{
    Guard& g = guard();
    g.thread = static_cast<pid_t>(::syscall(SYS_gettid));
    // The file systems of luod's own fds, which answer at once.
    int pipe_ends[2];
    if (::pipe2(pipe_ends, O_CLOEXEC) == 0) {
        learn_mount(pipe_ends[0]);
        plain_close(pipe_ends[1]);
    }
    learn_mount(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    learn_mount(::eventfd(0, EFD_CLOEXEC));
    learn_mount(::memfd_create("luod-probe", MFD_CLOEXEC));
    learn_mount(::memfd_create("luod-probe", MFD_CLOEXEC | MFD_HUGETLB));
    // From Linux 6.9 pidfds live on pidfs, which no mount table lists. sd-bus holds one for
    // each peer, and with dbus-daemon >= 1.15.8 (Debian 13 on) every caller's credentials
    // carry one: each method call of a new caller closes two, which must not wait for a worker.
    learn_mount(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
    learn_mount(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    learn_mount(::open("/proc/self", O_PATH | O_CLOEXEC));
    learn_mount(::open("/sys", O_PATH | O_CLOEXEC));
    learn_mount(::open("/", O_PATH | O_CLOEXEC));
    g.reaper.store(&reaper);
}

void uninstall() { guard().reaper.store(nullptr); }

int close(int fd)
{
    Guard& g = guard();
    FdReaper* reaper = g.reaper.load();
    if (!reaper || fd < 0 || static_cast<pid_t>(::syscall(SYS_gettid)) != g.thread)
        return plain_close(fd);
    bool no_such_fd = false;
    int mount_id = mount_id_of(fd, no_such_fd);
    if (no_such_fd || safe_mount(g, mount_id))
        return plain_close(fd);  // EBADF as close(2) says it, or a file system that answers
    // Unknown (or, out of fds, not even known): the fd stays open until a worker closes it.
    reaper->close_later(fd, mount_id);
    return 0;
}

}  // namespace close_guard

}  // namespace luod
