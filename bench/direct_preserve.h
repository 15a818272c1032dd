// SPDX-License-Identifier: Apache-2.0
// The floor the benchmarks set luod's PreserveFds against: files per second preserved through
// libluo directly on the model, one ioctl each, 500 to a session.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "harness.h"
#include "luo/device.h"

namespace luo::bench {

inline double direct_preserve_rate(int files)
{
    constexpr int kFilesPerSession = 500;
    luo::test::ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    std::vector<UniqueFd> fds;
    for (int i = 0; i < files; ++i)
        fds.push_back(luo::test::make_memfd("bench", "x"));
    std::vector<Session> sessions;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < files; ++i) {
        if (i % kFilesPerSession == 0)
            sessions.push_back(dev.create_session("direct-" + std::to_string(i)));
        sessions.back().preserve_fd(fds[static_cast<std::size_t>(i)].get(), static_cast<std::uint64_t>(i));
    }
    return files / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace luo::bench
