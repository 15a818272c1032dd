// SPDX-License-Identifier: Apache-2.0
// Shared by the example services: SIGTERM and SIGINT as a file descriptor for their poll loop.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include "luo/error.h"
#include "luo/unique_fd.h"

namespace luo::examples {

// Blocks SIGTERM and SIGINT and returns a signalfd that reports them. Call it before any
// thread starts (luo::Client's signal thread inherits the mask), so that the signals
// arrive only through the signalfd.
inline UniqueFd stop_signal_fd()
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (int rc = ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); rc != 0)
        throw_errno(rc, "pthread_sigmask");
    UniqueFd signal_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
    if (!signal_fd)
        throw_last_errno("signalfd");
    return signal_fd;
}

}  // namespace luo::examples
