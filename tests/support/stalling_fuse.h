// SPDX-License-Identifier: Apache-2.0
// A FUSE file system that stops answering on request, as a hostile user's server does: the
// test serves /dev/fuse itself (no libfuse) on a thread, with one regular file. Until stall()
// every request is answered; from then on requests are read and left pending, so whoever
// touches the file system (stat, statfs, flush on close, read...) waits in the kernel for an
// answer that does not come. resume() answers the pending ones and serves again; destruction
// aborts the connection (every waiter gets ENOTCONN) and unmounts.
//
// The mount is made by root (the test), owned by `owner` the way fusermount3 makes a user's
// mount; with `allow_other` other users (luod) may use it as fuse.conf's user_allow_other
// allows. Either way a file opened on it can be passed to luod over D-Bus.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "luo/unique_fd.h"

namespace luo::test {

class StallingFuse {
public:
    explicit StallingFuse(uid_t owner = 0, bool allow_other = true);
    ~StallingFuse();
    StallingFuse(const StallingFuse&) = delete;
    StallingFuse& operator=(const StallingFuse&) = delete;

    // The one regular file, "file" (mode 0666, 4096 bytes of zeros, owned by `owner`).
    [[nodiscard]] std::filesystem::path file() const { return dir_.path() / "file"; }
    [[nodiscard]] const std::filesystem::path& mount_point() const { return dir_.path(); }

    // From now on, requests are left unanswered: all of them, or with `only` those of that
    // process's threads (a hostile server answers dbus-daemon, which relays the fd, and
    // stalls luod alone).
    void stall(pid_t only = 0);
    // Answers what is pending and serves normally again.
    void resume();
    // Requests left unanswered so far (their FUSE opcodes), and a wait for at least `count`.
    [[nodiscard]] std::vector<std::uint32_t> pending() const;
    bool wait_pending(std::size_t count, std::chrono::milliseconds limit);

private:
    struct Request {
        std::uint32_t opcode = 0;
        pid_t pid = 0;  // the calling thread
        std::uint64_t unique = 0;
        std::uint64_t nodeid = 0;
        std::vector<char> body;
    };
    void serve();
    void answer(const Request& request);
    void reply(std::uint64_t unique, int error, const void* payload, std::size_t size);

    TempDir dir_;
    uid_t owner_;
    UniqueFd fuse_;
    UniqueFd stop_;  // eventfd
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stalled_ = false;
    pid_t stalled_pid_ = 0;
    std::vector<Request> pending_;
    std::thread thread_;
};

}  // namespace luo::test
