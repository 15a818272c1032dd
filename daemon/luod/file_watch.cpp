// SPDX-License-Identifier: Apache-2.0
#include "file_watch.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>

namespace luod {

namespace {
constexpr auto kPollInterval = std::chrono::seconds(2);
}

FileWatch::FileWatch(EventLoop& loop, std::filesystem::path path, std::function<void()> changed)
    : loop_(loop), path_(std::move(path)), changed_(std::move(changed))
{
    struct statfs sfs {};
    bool sysfs = ::statfs(path_.parent_path().c_str(), &sfs) == 0 && sfs.f_type == SYSFS_MAGIC;
    if (sysfs) {
        fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd_) {
            char buf[64];
            (void)!::pread(fd_.get(), buf, sizeof buf, 0);  // POLLPRI reports changes after a read
            source_ = loop_.add_io(fd_.get(), EPOLLPRI, [this](std::uint32_t) {
                char b[64];
                (void)!::pread(fd_.get(), b, sizeof b, 0);
                changed_();
            });
        }
        arm_poll();
        return;
    }
    fd_.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!fd_ || ::inotify_add_watch(fd_.get(), path_.parent_path().c_str(),
                                    IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM) < 0) {
        fd_.reset();
        arm_poll();  // the directory may not exist (LUO off): look now and then
        return;
    }
    source_ = loop_.add_io(fd_.get(), EPOLLIN, [this](std::uint32_t) {
        alignas(inotify_event) char buf[4096];
        bool ours = false;
        for (;;) {
            ssize_t n = ::read(fd_.get(), buf, sizeof buf);
            if (n <= 0)
                break;
            for (ssize_t at = 0; at < n;) {
                auto* ev = reinterpret_cast<inotify_event*>(buf + at);
                if (ev->len > 0 && path_.filename() == ev->name)
                    ours = true;
                at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
            }
        }
        if (ours)
            changed_();
    });
}

void FileWatch::arm_poll()
{
    poll_ = loop_.add_timer(kPollInterval, [this] {
        changed_();
        loop_.post([this] { arm_poll(); });
    });
}

}  // namespace luod
