// SPDX-License-Identifier: Apache-2.0
#include "update_strategy.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "api_error.h"
#include "kernel_errors.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "names.h"

namespace luod {

bool UpdateStrategy::systemd_can_carry_sessions() const
{
    // systemd carries fd stores through LUO from v261 (FileDescriptorStorePreserve=).
    return fd_store_.enabled() && systemd_.version() >= 261;
}

std::optional<std::string> UpdateStrategy::why_not_orderly() const
{
    if (systemd_.known() != SystemdManager::Known::present)
        return systemd_.describe();
    if (systemd_.version() >= 261)
        return systemd_.describe() + " carries the sessions itself: use the systemd strategy";
    if (!systemd_.unit_stopped_by_kexec().has_value())
        return "luod does not know whether a kexec stops " +
               (systemd_.own_unit().empty() ? std::string("it (it runs in no unit)") : systemd_.own_unit() +
                                                                                     " (systemd did not say)");
    if (*systemd_.unit_stopped_by_kexec())
        return "a kexec stops " + systemd_.own_unit() +
               " (Conflicts=shutdown.target): install units/extra/orderly-kexec.conf as a drop-in";
    if (!exemption_.possible())
        return "luod cannot mark itself to survive systemd-shutdown (no argv[0])";
    return std::nullopt;
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
    case Strategy::orderly:
        if (std::optional<std::string> why = why_not_orderly())
            fail(ErrorKind::not_supported, "the orderly strategy needs systemd 252-260 and a luod.service that a "
                                           "kexec does not stop: " + *why);
        return Strategy::orderly;
    case Strategy::automatic:
        break;
    }
    // Not knowing yet is not "no": picking direct then would drop every other service's
    // preserved fd store on a systemd that could have carried them.
    if (fd_store_.enabled() && systemd_.known() == SystemdManager::Known::asking)
        fail(ErrorKind::not_supported, "auto: " + systemd_.describe() + "; try again in a moment");
    if (systemd_can_carry_sessions())
        return Strategy::systemd;
    return why_not_orderly() ? Strategy::direct : Strategy::orderly;
}

std::optional<std::string> UpdateStrategy::reboot_direct(std::size_t sessions)
{
    spdlog::info("calling reboot(LINUX_REBOOT_CMD_KEXEC) with {} sessions", sessions);
    // Timed apart (bench-blackout reads it): sync(2) writes back whatever the whole machine
    // has dirty since the first sync, which is not luod's work; the reboot's own sync then
    // finds nothing left.
    auto began = std::chrono::steady_clock::now();
    ::sync();
    spdlog::debug("sync(2) before the reboot took {} us",
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began)
                      .count());
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

void UpdateStrategy::reboot_orderly(SystemdManager::Failure failed)
{
    // luod's unit gets no stop job from the transaction (orderly-kexec.conf); the exemption
    // keeps systemd-shutdown from killing luod, whose session fds then reach reboot().
    outlive_kexec();
    systemd_.start_unit("kexec.target", "replace-irreversibly", [this, failed = std::move(failed)](const std::string& why) {
        kexec_called_off();
        failed(why);
    });
}

void UpdateStrategy::outlive_kexec()
{
    if (exemption_.held())
        return;
    exemption_.take();
    spdlog::info("luod stays through the kexec holding its sessions: spared by systemd-shutdown's killing spree "
                 "(argv[0] starts with '@'), it outlives the bus");
}

void UpdateStrategy::kexec_called_off()
{
    if (!exemption_.held())
        return;
    exemption_.give_back();
    spdlog::info("no kexec after all: luod is an ordinary process of its unit again");
}

}  // namespace luod
