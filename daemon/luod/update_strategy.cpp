// SPDX-License-Identifier: Apache-2.0
#include "update_strategy.h"

#include <spdlog/spdlog.h>

#include <sdbus-c++/sdbus-c++.h>

#include "api_error.h"
#include "kernel_errors.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "names.h"

namespace luod {

bool UpdateStrategy::systemd_can_carry_sessions() const
{
    if (!fd_store_.enabled() || !bus_)
        return false;
    try {
        auto proxy = sdbus::createProxy(*bus_, "org.freedesktop.systemd1", "/org/freedesktop/systemd1");
        sdbus::Variant version;
        proxy->callMethod("Get")
            .onInterface("org.freedesktop.DBus.Properties")
            .withArguments(std::string("org.freedesktop.systemd1.Manager"), std::string("Version"))
            .withTimeout(std::chrono::seconds(2))
            .storeResultsTo(version);
        std::string text = version.get<std::string>();
        auto digits = text.find_first_of("0123456789");
        // systemd carries fd stores through LUO from v261 (FileDescriptorStorePreserve=).
        return digits != std::string::npos && std::stoi(text.substr(digits)) >= 261;
    } catch (const std::exception&) {
        return false;
    }
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
                                           "store");
        return Strategy::systemd;
    case Strategy::automatic:
        break;
    }
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

std::optional<std::string> UpdateStrategy::reboot_through_systemd()
{
    // luod's sessions are in its fd store; systemd-shutdown opens the device at the very
    // end, so luod lets go of it first.
    device_.release();
    try {
        auto proxy = sdbus::createProxy(*bus_, "org.freedesktop.systemd1", "/org/freedesktop/systemd1");
        sdbus::ObjectPath job;
        proxy->callMethod("StartUnit")
            .onInterface("org.freedesktop.systemd1.Manager")
            .withArguments(std::string("kexec.target"), std::string("replace-irreversibly"))
            .withTimeout(std::chrono::seconds(25))
            .storeResultsTo(job);
        spdlog::info("systemd started kexec.target (job {}): it carries the sessions", std::string(job));
    } catch (const sdbus::Error& e) {
        device_.reopen();
        return "systemd refused to start kexec.target: " + e.getMessage() + " (" + e.getName() + ")";
    }
    return std::nullopt;
}

}  // namespace luod
