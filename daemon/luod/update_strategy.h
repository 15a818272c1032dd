// SPDX-License-Identifier: Apache-2.0
// How the kexec happens once the barrier has passed (docs/architecture.md §4, and
// docs/systemd.md for the table by systemd version):
//   direct   luod holds every session fd through reboot(LINUX_REBOOT_CMD_KEXEC);
//   systemd  luod's sessions are in its fd store; luod asks systemd (≥ 261) for
//            kexec.target, and systemd-shutdown does the last step;
//   orderly  systemd 252–260, whose kexec carries nothing: luod asks for kexec.target too,
//            but its unit is not stopped by it (units/extra/orderly-kexec.conf) and it is
//            spared by systemd-shutdown's killing spree (kill_spree_exemption.h), so it holds
//            its session fds until systemd-shutdown's reboot(LINUX_REBOOT_CMD_KEXEC);
//   auto     systemd where systemd can carry sessions, orderly where luod survives
//            systemd's kexec, else direct.
// Calls to systemd go through SystemdManager (asynchronous; nothing here waits for PID 1).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "device_access.h"
#include "fd_store.h"
#include "kill_spree_exemption.h"
#include "string_table.h"
#include "systemd_manager.h"

namespace luod {

class EventLoop;

enum class Strategy { automatic, direct, systemd, orderly };
inline constexpr luo::StringTable<Strategy, 4> kStrategies{{{
    {Strategy::automatic, "auto"},
    {Strategy::direct, "direct"},
    {Strategy::systemd, "systemd"},
    {Strategy::orderly, "orderly"},
}}};
inline std::string_view to_string(Strategy strategy) { return kStrategies.name(strategy); }

class UpdateStrategy {
public:
    UpdateStrategy(EventLoop& loop, DeviceAccess& device, const FdStore& fd_store, KillSpreeExemption exemption)
        : device_(device), fd_store_(fd_store), exemption_(exemption), systemd_(loop)
    {
    }
    // Starts asking systemd (its version, its kexec jobs).
    void start() { systemd_.start(); }

    // direct, systemd or orderly for a requested "auto", "direct", "systemd" or "orderly".
    // Throws ApiError: not_supported when the strategy cannot work with this systemd and unit
    // (or systemd has not said yet),
    // invalid_args for an unknown name. Never waits.
    [[nodiscard]] Strategy resolve(const std::string& requested) const;

    // The direct kexec: nullopt once it is under way, or why it did not start (every session
    // is then as it was).
    std::optional<std::string> reboot_direct(std::size_t sessions);
    // Asks systemd for kexec.target and returns at once; `failed` is called later if systemd
    // refuses or the job does not complete.
    void reboot_through_systemd(SystemdManager::Failure failed);
    // The orderly kexec (below 261): luod takes its exemption from the killing spree, then
    // asks systemd for kexec.target; `failed` as above, after the exemption is given back.
    void reboot_orderly(SystemdManager::Failure failed);

    // A kexec is under way that luod must outlive holding its sessions (orderly): from now on
    // luod stays through systemd-shutdown's killing spree and a lost bus.
    void outlive_kexec();
    // That kexec did not happen after all.
    void kexec_called_off();
    [[nodiscard]] bool outliving_kexec() const { return exemption_.held(); }

    [[nodiscard]] SystemdManager& systemd() { return systemd_; }

private:
    [[nodiscard]] bool systemd_can_carry_sessions() const;
    // systemd 252–260 and luod's unit is not stopped by a kexec: why not, or nullopt.
    [[nodiscard]] std::optional<std::string> why_not_orderly() const;

    DeviceAccess& device_;
    const FdStore& fd_store_;
    KillSpreeExemption exemption_;
    SystemdManager systemd_;
};

}  // namespace luod
