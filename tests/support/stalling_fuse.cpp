// SPDX-License-Identifier: Apache-2.0
#include "stalling_fuse.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <pwd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "luo/error.h"

namespace luo::test {

namespace {

constexpr std::uint64_t kFileNode = 2;
constexpr std::size_t kFileSize = 4096;
constexpr std::size_t kReadBuffer = 1 << 17;  // at least FUSE_MIN_READ_BUFFER + max_write

fuse_attr attributes(std::uint64_t node, uid_t owner)
{
    fuse_attr a{};
    a.ino = node;
    a.nlink = 1;
    a.uid = owner;
    a.blksize = 4096;
    if (node == FUSE_ROOT_ID) {
        a.mode = S_IFDIR | 0755;
        a.nlink = 2;
    } else {
        a.mode = S_IFREG | 0666;
        a.size = kFileSize;
        a.blocks = kFileSize / 512;
    }
    return a;
}

// Whether thread `tid` belongs to process `pid` (FUSE names the calling thread).
bool thread_of(pid_t tid, pid_t pid)
{
    return tid == pid || std::filesystem::exists("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid));
}

}  // namespace

StallingFuse::StallingFuse(uid_t owner, bool allow_other) : dir_("luo-fuse"), owner_(owner)
{
    ::chmod(dir_.path().c_str(), 0755);
    fuse_.reset(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!fuse_)
        throw_last_errno("open /dev/fuse");
    // The mount belongs to the owner's uid and primary gid, as fusermount3 records it.
    passwd* pw = ::getpwuid(owner);
    gid_t group = pw ? pw->pw_gid : owner;
    std::string options = "fd=" + std::to_string(fuse_.get()) + ",rootmode=40000,user_id=" + std::to_string(owner) +
                          ",group_id=" + std::to_string(group) + (allow_other ? ",allow_other" : "");
    if (::mount("luo-stall", dir_.path().c_str(), "fuse.luo-stall", MS_NOSUID | MS_NODEV, options.c_str()) < 0)
        throw_last_errno("mount fuse");
    stop_.reset(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] { serve(); });
}

StallingFuse::~StallingFuse()
{
    // Whoever still waits gets an answer (a forked child holding a copy of the device fd
    // would keep the connection from being aborted by the close below).
    resume();
    ::umount2(dir_.path().c_str(), MNT_DETACH);
    std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
    // Closing the device aborts the connection: anything later fails with ENOTCONN.
    fuse_.reset();
}

void StallingFuse::stall(pid_t only)
{
    std::lock_guard lock(mutex_);
    stalled_ = true;
    stalled_pid_ = only;
}

void StallingFuse::resume()
{
    std::vector<Request> waiting;
    {
        std::lock_guard lock(mutex_);
        stalled_ = false;
        waiting.swap(pending_);
    }
    for (const Request& r : waiting)
        answer(r);
}

std::vector<std::uint32_t> StallingFuse::pending() const
{
    std::lock_guard lock(mutex_);
    std::vector<std::uint32_t> out;
    for (const Request& r : pending_)
        out.push_back(r.opcode);
    return out;
}

bool StallingFuse::wait_pending(std::size_t count, std::chrono::milliseconds limit)
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return pending_.size() >= count; });
}

void StallingFuse::serve()
{
    std::vector<char> buffer(kReadBuffer);
    for (;;) {
        pollfd p[2] = {{fuse_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0 && errno != EINTR)
            return;
        if (p[1].revents)
            return;
        if (!(p[0].revents & POLLIN))
            continue;
        ssize_t n = ::read(fuse_.get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOENT)  // ENOENT: request interrupted
                continue;
            return;  // ENODEV: unmounted
        }
        if (static_cast<std::size_t>(n) < sizeof(fuse_in_header))
            continue;
        fuse_in_header in;
        std::memcpy(&in, buffer.data(), sizeof in);
        Request r{in.opcode, static_cast<pid_t>(in.pid), in.unique, in.nodeid,
                  std::vector<char>(buffer.begin() + sizeof in, buffer.begin() + n)};
        // FORGET needs no answer; INTERRUPT may be ignored (the request itself stays pending).
        if (r.opcode == FUSE_FORGET || r.opcode == FUSE_BATCH_FORGET || r.opcode == FUSE_INTERRUPT)
            continue;
        {
            std::lock_guard lock(mutex_);
            if (stalled_ && r.opcode != FUSE_INIT && (stalled_pid_ == 0 || thread_of(r.pid, stalled_pid_))) {
                pending_.push_back(std::move(r));
                changed_.notify_all();
                continue;
            }
        }
        answer(r);
    }
}

void StallingFuse::reply(std::uint64_t unique, int error, const void* payload, std::size_t size)
{
    fuse_out_header out{};
    out.len = static_cast<std::uint32_t>(sizeof out + (error ? 0 : size));
    out.error = -error;
    out.unique = unique;
    iovec iov[2] = {{&out, sizeof out}, {const_cast<void*>(payload), error ? 0 : size}};
    (void)!::writev(fuse_.get(), iov, 2);  // fails only when the request was interrupted
}

void StallingFuse::answer(const Request& r)
{
    switch (r.opcode) {
    case FUSE_INIT: {
        fuse_init_in in{};
        std::memcpy(&in, r.body.data(), std::min(sizeof in, r.body.size()));
        fuse_init_out out{};
        out.major = FUSE_KERNEL_VERSION;
        out.minor = std::min<std::uint32_t>(in.minor, FUSE_KERNEL_MINOR_VERSION);
        out.max_readahead = in.max_readahead;
        out.max_write = 4096;
        out.time_gran = 1;
        out.max_background = 16;
        out.congestion_threshold = 12;
        return reply(r.unique, 0, &out, sizeof out);
    }
    case FUSE_LOOKUP: {
        std::string name(r.body.data(), strnlen(r.body.data(), r.body.size()));
        if (r.nodeid != FUSE_ROOT_ID || name != "file")
            return reply(r.unique, ENOENT, nullptr, 0);
        fuse_entry_out out{};
        out.nodeid = kFileNode;
        out.generation = 1;
        out.attr = attributes(kFileNode, owner_);  // no caching: every stat asks the server
        return reply(r.unique, 0, &out, sizeof out);
    }
    case FUSE_GETATTR:
    case FUSE_SETATTR: {
        fuse_attr_out out{};
        out.attr = attributes(r.nodeid, owner_);
        return reply(r.unique, 0, &out, sizeof out);
    }
    case FUSE_OPEN:
    case FUSE_OPENDIR: {
        fuse_open_out out{};
        out.fh = 1;
        return reply(r.unique, 0, &out, sizeof out);
    }
    case FUSE_READ: {
        fuse_read_in in{};
        std::memcpy(&in, r.body.data(), std::min(sizeof in, r.body.size()));
        std::size_t size = in.offset >= kFileSize ? 0 : std::min<std::size_t>(in.size, kFileSize - in.offset);
        std::vector<char> zeros(size);
        return reply(r.unique, 0, zeros.data(), zeros.size());
    }
    case FUSE_WRITE: {
        fuse_write_in in{};
        std::memcpy(&in, r.body.data(), std::min(sizeof in, r.body.size()));
        fuse_write_out out{};
        out.size = in.size;
        return reply(r.unique, 0, &out, sizeof out);
    }
    case FUSE_STATFS: {
        fuse_statfs_out out{};
        out.st.bsize = 4096;
        out.st.frsize = 4096;
        out.st.namelen = 255;
        return reply(r.unique, 0, &out, sizeof out);
    }
    case FUSE_READDIR:
        return reply(r.unique, 0, nullptr, 0);  // empty: the file is found by name
    case FUSE_ACCESS:
    case FUSE_FLUSH:
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR:
    case FUSE_FSYNC:
    case FUSE_DESTROY:
        return reply(r.unique, 0, nullptr, 0);
    default:
        return reply(r.unique, ENOSYS, nullptr, 0);
    }
}

}  // namespace luo::test
