// SPDX-License-Identifier: Apache-2.0
// How the kexec happens once the barrier has passed (docs/architecture.md §4, and
// docs/systemd.md for the table by systemd version):
//   direct   luod holds every session fd through reboot(LINUX_REBOOT_CMD_KEXEC);
//   systemd  luod's sessions are in its fd store; luod asks systemd (≥ 261) for
//            kexec.target, and systemd-shutdown does the last step;
//   auto     systemd where systemd can carry sessions, else direct.
// Calls to systemd go through SystemdManager (asynchronous; nothing here waits for PID 1).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "device_access.h"
#include "fd_store.h"
#include "string_table.h"
#include "systemd_manager.h"

namespace luod {

class EventLoop;

enum class Strategy { automatic, direct, systemd };
inline constexpr luo::StringTable<Strategy, 3> kStrategies{{{
    {Strategy::automatic, "auto"},
    {Strategy::direct, "direct"},
    {Strategy::systemd, "systemd"},
}}};
inline std::string_view to_string(Strategy strategy) { return kStrategies.name(strategy); }

class UpdateStrategy {
public:
    UpdateStrategy(EventLoop& loop, DeviceAccess& device, const FdStore& fd_store)
        : device_(device), fd_store_(fd_store), systemd_(loop)
    {
    }
    // Starts asking systemd (its version, its kexec jobs).
    void start() { systemd_.start(); }

    // direct or systemd for a requested "auto", "direct" or "systemd". Throws ApiError:
    // not_supported when systemd cannot carry sessions (or has not said whether it can yet),
    // invalid_args for an unknown name. Never waits.
    [[nodiscard]] Strategy resolve(const std::string& requested) const;

    // The direct kexec: nullopt once it is under way, or why it did not start (every session
    // is then as it was).
    std::optional<std::string> reboot_direct(std::size_t sessions);
    // Asks systemd for kexec.target and returns at once; `failed` is called later if systemd
    // refuses or the job does not complete.
    void reboot_through_systemd(SystemdManager::Failure failed);

    [[nodiscard]] SystemdManager& systemd() { return systemd_; }

private:
    [[nodiscard]] bool systemd_can_carry_sessions() const;

    DeviceAccess& device_;
    const FdStore& fd_store_;
    SystemdManager systemd_;
};

}  // namespace luod
