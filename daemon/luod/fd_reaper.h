// SPDX-License-Identifier: Apache-2.0
// Closing fds without ever waiting on luod's thread.
//
// DOC: why a close can wait
//
// FUSE sends its server a FLUSH on every close of a file of its mount and waits,
// uninterruptibly, for the answer. Any user can mount FUSE; a hostile server that answers
// dbus-daemon (which relays an fd over the bus) and never luod would hold luod's only
// thread for good the moment luod closes that fd (issue 9 finding 4). And luod closes
// callers' fds in many places it does not control: sd-bus closes the fds of every message it
// frees, sdbus-c++ duplicates and closes the fds of arguments while it decodes them, a
// message may even carry fds none of its arguments names.
//
// DOC: the close guard
//
// So in luod the close() function itself is guarded (fd_reaper_hook.cpp, linked into the
// luod executable only, puts close_guard::close() in place of libc's close for every
// library in the process). On luod's main thread, a close of an fd on a file system that
// may wait on someone else is not done there: the fd stays open, and a worker of the reaper
// closes it. Safe are the file systems of luod's own fds (sockets, pipes, eventfds, memfds,
// learned at start) and local file systems of luod's mount table; FUSE, network file
// systems and mounts of other namespaces are not. Which mount an fd is on is read from
// /proc/self/fdinfo, which the kernel answers without the file system. Workers run in lanes
// by mount, one job at a time: a stalled mount holds its own lane; closes on other mounts
// go on.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace luod {

class FdReaper {
public:
    FdReaper();
    ~FdReaper();
    FdReaper(const FdReaper&) = delete;
    FdReaper& operator=(const FdReaper&) = delete;

    // Closes `fd` (an fd of the mount `mount_id`) on a worker.
    void close_later(int fd, int mount_id);
    // Closes not yet done (queued, or held up by a file system that does not answer).
    [[nodiscard]] std::size_t unfinished() const;

    static constexpr std::size_t kLanes = 4;

private:
    struct Lane {
        std::deque<int> fds;
        bool busy = false;
        std::thread thread;
    };
    // Shared with the workers, which keep it alive: a worker still stuck in a close when
    // luod exits touches nothing that is gone.
    struct State {
        std::mutex mutex;
        std::condition_variable work;
        bool stopping = false;
        std::size_t unfinished = 0;
        std::vector<Lane> lanes;
    };
    static void run(std::shared_ptr<State> state, std::size_t lane);

    std::shared_ptr<State> state_;
};

namespace close_guard {

// From now on, closes on this thread (luod's main thread) of fds on unknown file systems go
// to `reaper`. Learns the safe file systems first. Call once, from the main thread.
void install(FdReaper& reaper);
// Back to plain closes (before the reaper goes).
void uninstall();
// What close(fd) does in luod: the guarded close, or the plain one where not installed or
// not on the guarded thread. Returns as close(2) does.
int close(int fd);

// RAII for install()/uninstall().
class Installed {
public:
    explicit Installed(FdReaper& reaper) { install(reaper); }
    ~Installed() { uninstall(); }
    Installed(const Installed&) = delete;
    Installed& operator=(const Installed&) = delete;
};

}  // namespace close_guard

}  // namespace luod
