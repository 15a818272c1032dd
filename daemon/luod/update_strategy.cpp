// SPDX-License-Identifier: Apache-2.0
#include "update_strategy.h"

#include <spdlog/spdlog.h>

#include "api_error.h"
#include "kernel_errors.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "names.h"

namespace luod {

bool UpdateStrategy::systemd_can_carry_sessions() const
{
    // systemd carries fd stores through LUO from v261 (FileDescriptorStorePreserve=).
    return fd_store_.enabled() && systemd_.version().value_or(0) >= 261;
}

Strategy UpdateStrategy::resolve(const std::string& requested) const
{
    std::optional<Strategy> strategy = kStrategies.parse(requested);
    if (!strategy)
        fail(ErrorKind::invalid_args, "unknown strategy " + quote(requested) + " (" + kStrategies.names() + ")");
    switch (*strategy) {
    case Strategy::direct:
        return Strategy::direct;
    case Strategy::systemd:
        if (!systemd_can_carry_sessions())
            fail(ErrorKind::not_supported, "the systemd strategy needs systemd 261 or later running luod with its fd "
                                           "store (" + systemd_.describe() + (fd_store_.enabled() ? "" : ", no fd store") +
                                           ")");
        return Strategy::systemd;
    case Strategy::automatic:
        break;
    }
    // Not knowing yet is not "no": picking direct then would drop every other service's
    // preserved fd store on a systemd that could have carried them.
    if (fd_store_.enabled() && systemd_.known() == SystemdManager::Known::asking)
        fail(ErrorKind::not_supported, "auto: " + systemd_.describe() + "; try again in a moment");
    return systemd_can_carry_sessions() ? Strategy::systemd : Strategy::direct;
}

std::optional<std::string> UpdateStrategy::reboot_direct(std::size_t sessions)
{
    spdlog::info("calling reboot(LINUX_REBOOT_CMD_KEXEC) with {} sessions", sessions);
    spdlog::default_logger()->flush();
    try {
        luo::Kexec(device_.root()).reboot();
    } catch (const luo::Error& e) {
        std::string why = errno_text(e);
        if (e.errno_value() == EINVAL)
            why += ": a preserved file could not be frozen (e.g. a VFIO device with interrupts enabled) or no "
                   "kernel is loaded";
        else if (e.errno_value() == EPERM)
            why += ": luod lacks CAP_SYS_BOOT";
        return "reboot(LINUX_REBOOT_CMD_KEXEC) failed: " + why;
    }
    spdlog::info("the kernel is rebooting");
    return std::nullopt;
}

void UpdateStrategy::reboot_through_systemd(SystemdManager::Failure failed)
{
    // luod's sessions are in its fd store; systemd-shutdown opens the device at the very
    // end (luod holds it only during its own calls).
    systemd_.start_unit("kexec.target", "replace-irreversibly", std::move(failed));
}

}  // namespace luod
