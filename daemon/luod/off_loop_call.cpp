// SPDX-License-Identifier: Apache-2.0
#include "off_loop_call.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "luo/unique_fd.h"

namespace luod {

namespace {

struct Outcome {
    std::mutex lock;
    std::exception_ptr error;
};

}  // namespace

EventSource call_off_loop(EventLoop& loop, std::function<void()> work, std::function<void(std::exception_ptr)> done)
{
    auto loop_end = std::make_shared<luo::UniqueFd>(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!*loop_end)
        throw std::system_error(errno, std::generic_category(), "eventfd");
    luo::UniqueFd thread_end(::fcntl(loop_end->get(), F_DUPFD_CLOEXEC, 0));
    if (!thread_end)
        throw std::system_error(errno, std::generic_category(), "fcntl(F_DUPFD_CLOEXEC)");
    auto outcome = std::make_shared<Outcome>();
    // Owned by the watch's callback, so by the returned source: `done` (and what it holds,
    // such as a D-Bus call's pending reply) goes when the source does.
    auto owned_done = std::make_shared<std::function<void(std::exception_ptr)>>(std::move(done));
    EventSource watch = loop.add_io(loop_end->get(), EPOLLIN, [&loop, loop_end, outcome, owned_done](std::uint32_t) {
        std::uint64_t count = 0;
        (void)!::read(loop_end->get(), &count, sizeof count);
        std::exception_ptr error;
        {
            std::lock_guard<std::mutex> held(outcome->lock);
            error = outcome->error;
        }
        // Posted: `done` may drop this very source. Not if it was dropped meanwhile.
        loop.post([error, weak_done = std::weak_ptr<std::function<void(std::exception_ptr)>>(owned_done)] {
            if (auto still_done = weak_done.lock())
                (*still_done)(error);
        });
    });
    std::thread([work = std::move(work), fd = std::move(thread_end), outcome] {
        try {
            work();
        } catch (...) {
            std::lock_guard<std::mutex> held(outcome->lock);
            outcome->error = std::current_exception();
        }
        std::uint64_t one = 1;
        (void)!::write(fd.get(), &one, sizeof one);
    }).detach();
    return watch;
}

}  // namespace luod
