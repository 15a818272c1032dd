// SPDX-License-Identifier: Apache-2.0
// The tests' one way to wait for what another process brings about (luod, the model, a
// client): ask again until the answer is yes. The limit guards against a hang; it is no
// timing assertion, so it is far above any normal wait.
#pragma once

#include <chrono>
#include <thread>

namespace luo::test {

inline constexpr std::chrono::seconds kHangGuard{120};

// Calls `done()` until it returns true, then returns true; returns false once `limit` has
// passed with `done()` still false.
template <typename Pred>
[[nodiscard]] bool eventually(Pred&& done, std::chrono::milliseconds limit = kHangGuard,
                              std::chrono::milliseconds interval = std::chrono::milliseconds(10))
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(interval);
    }
    return true;
}

}  // namespace luo::test
