// SPDX-License-Identifier: Apache-2.0
// A blocking system call run off luod's event loop: sync(2) before an update's barrier,
// kexec_file_load(2) of the next kernel. The call runs on a detached thread, so a call that
// never returns (a dead file system) holds neither the loop nor luod's stop; its outcome
// comes back to the loop through an eventfd of the thread's own (luod may close its copy
// first, and the number must not then name another file).
#pragma once

#include <exception>
#include <functional>

#include "event_loop.h"

namespace luod {

// Runs `work` on a detached thread; once it returns, `done` runs on `loop` with what it threw
// (nullptr if nothing). Dropping the returned source before then means `done` never runs;
// while it is active the call is under way. `work` must not touch what the loop's thread
// owns. Throws std::system_error when no eventfd or thread can be had (nothing then runs).
[[nodiscard]] EventSource call_off_loop(EventLoop& loop, std::function<void()> work,
                                        std::function<void(std::exception_ptr)> done);

}  // namespace luod
