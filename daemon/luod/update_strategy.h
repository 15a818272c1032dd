// SPDX-License-Identifier: Apache-2.0
// How the kexec happens once the barrier has passed (docs/architecture.md §4):
//   direct   luod holds every session fd through reboot(LINUX_REBOOT_CMD_KEXEC);
//   systemd  luod's sessions are in its fd store; luod lets go of the device and asks
//            systemd (≥ 261) for kexec.target, and systemd-shutdown does the last step;
//   auto     systemd where systemd can carry sessions, else direct.
// Every call luod makes to systemd's manager is here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "device_access.h"
#include "fd_store.h"
#include "string_table.h"

namespace sdbus {
class IConnection;
}

namespace luod {

enum class Strategy { automatic, direct, systemd };
inline constexpr luo::StringTable<Strategy, 3> kStrategies{{{
    {Strategy::automatic, "auto"},
    {Strategy::direct, "direct"},
    {Strategy::systemd, "systemd"},
}}};
inline std::string_view to_string(Strategy strategy) { return kStrategies.name(strategy); }

class UpdateStrategy {
public:
    UpdateStrategy(DeviceAccess& device, const FdStore& fd_store) : device_(device), fd_store_(fd_store) {}
    // luod's bus connection, to reach systemd.
    void attach_bus(sdbus::IConnection& bus) { bus_ = &bus; }

    // direct or systemd for a requested "auto", "direct" or "systemd". Throws ApiError:
    // not_supported when systemd cannot carry sessions, invalid_args for an unknown name.
    [[nodiscard]] Strategy resolve(const std::string& requested) const;

    // Each returns nullopt once the kexec is under way, or why it did not start; on failure
    // every session is as it was.
    std::optional<std::string> reboot_direct(std::size_t sessions);
    std::optional<std::string> reboot_through_systemd();

private:
    [[nodiscard]] bool systemd_can_carry_sessions() const;

    DeviceAccess& device_;
    const FdStore& fd_store_;
    sdbus::IConnection* bus_ = nullptr;
};

}  // namespace luod
