// SPDX-License-Identifier: Apache-2.0
// luod: the Live Update Orchestrator agent. See README.md and docs/architecture.md.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include "luo-dbus/sdbus_compat.h"
#include "luo-dbus/system_bus.h"

#include "clock.h"
#include "config.h"
#include "dbus_service.h"
#include "device_access.h"
#include "event_loop.h"
#include "fd_reaper.h"
#include "fd_store.h"
#include "kill_spree_exemption.h"
#include "log.h"
#include "restart_witness.h"
#include "luo/dbus_api.h"
#include "luo/version.h"
#include "names.h"
#include "session_registry.h"
#include "startup_watchdog.h"
#include "state_store.h"
#include "update_controller.h"

namespace {

int serve(const luod::Config& config, const std::filesystem::path& root, char* argv0)
{
    std::uint64_t started_usec = luod::realtime_usec();
    luod::StartupClock clock;  // from started_usec: the report's first_start
    // Before anything closes a caller's fd: from here on this thread never waits in close()
    // for a file system (fd_reaper.h).
    luod::FdReaper reaper;
    luod::close_guard::Installed close_guard(reaper);
    luod::EventLoop loop;
    luod::UpdateController* update_controller = nullptr;  // set once it exists
    loop.on_signal(SIGTERM, [&] {
        if (update_controller)
            (void)update_controller->kexec_instead_of_stopping();
        loop.exit(0);
    });
    loop.on_signal(SIGINT, [&] { loop.exit(0); });
    luod::StartupWatchdog startup_watchdog;  // until the loop runs (startup_watchdog.h)
    luod::FdStore fd_store;
    luod::DeviceAccess device(root);
    luod::StateStore store(config, fd_store, device);
    luod::SessionRegistry sessions(config, device, store);
    clock.lap("setup");
    device.start(luod::kProbeSession, &clock);
    clock.lap("device");
    store.time_start_up(&clock);
    sessions.start(store.restore(luod::FdStore::take_listen_fds()));
    store.time_start_up(nullptr);
    clock.lap("restore");
    luod::RestartWitness witness(luod::RestartWitness::default_file(root), store.boot_id());
    // After a kexec nothing of this boot can have been lost yet: the witness writes the
    // update's session names once they are known, after luod is ready (issue 12).
    bool witness_when_ready = device.available() && store.restored_from_update();
    std::size_t lost_at_restart = device.available() && !witness_when_ready
                                      ? witness.check_at_start(sessions, fd_store.enabled()).size()
                                      : 0;
    sessions.add_observer(&witness);
    clock.lap("witness");
    luod::UpdateController update(loop, config, device, store, sessions, fd_store, started_usec,
                                 luod::KillSpreeExemption(argv0));
    update_controller = &update;

    auto bus = luo::sdbus_compat::open_system_bus_for_service();
    clock.lap("bus");
    luod::DbusService service(*bus, loop, sessions, device, update);  // objects first, then the name
    clock.lap("objects");
    update.start(*bus, service);
    clock.lap("update");
    spdlog::debug("start-up: {}", clock.text());
    // During an orderly kexec (systemd 252-260) the bus stops before systemd-shutdown's
    // reboot(): luod stays, holding its sessions, until the kernel ends it.
    loop.attach_bus(*bus, [&] {
        if (!update.outliving_kexec())
            return false;
        spdlog::warn("the bus is gone during the kexec: luod stays holding its {} sessions until the reboot",
                     sessions.outgoing_count());
        return true;
    });

    // Ready (the bus name, READY=1) once luod knows whether systemd is there to carry its
    // sessions, which the auto strategy of an Update depends on: a caller right after the
    // start gets an answer, not "try again". A PID 1 that does not answer delays it by at
    // most kWaitForSystemd; luod then serves and says it does not know yet.
    constexpr std::chrono::seconds kWaitForSystemd{10};
    bool announced = false;
    auto announce = [&] {
        if (announced)
            return;
        announced = true;
        luo::sdbus_compat::request_name(*bus, luo::dbus::kBusName);
        update.serving();
        std::string status = std::to_string(sessions.outgoing_count()) + " sessions, kernel: " +
                             luo::to_string(device.transport()) + (device.available() ? "" : " (unavailable)") +
                             (lost_at_restart ? "; " + std::to_string(lost_at_restart) + " sessions LOST at restart" : "");
        ::sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
        if (witness_when_ready)
            update.when_sessions_known([&] { witness.check_at_start(sessions, fd_store.enabled()); });
        spdlog::info("serving {} on the system bus ({}; {})", luo::dbus::kBusName, status, update.systemd().describe());
    };
    luod::EventSource systemd_bound = loop.add_timer(kWaitForSystemd, [&] {
        if (!announced)
            spdlog::warn("systemd has not told its version within {} s: serving without knowing it",
                         kWaitForSystemd.count());
        announce();
    });
    update.systemd().when_known([&] { loop.post(announce); });
    startup_watchdog.stop();
    int rc = loop.run();
    ::sd_notify(0, "STOPPING=1");
    if (!fd_store.enabled() && sessions.outgoing_count() > 0)
        spdlog::warn("exiting without a service manager's fd store: {} sessions end with luod",
                     sessions.outgoing_count());
    sessions.remove_observer(&witness);
    spdlog::info("stopped");
    return rc < 0 ? 1 : rc;
}

}  // namespace

int main(int argc, char** argv)
{
    std::filesystem::path root = "/";
    std::filesystem::path config_path = luod::kDefaultConfigPath;
    std::string log_level;

    CLI::App app{"luod: keeps Live Update Orchestrator sessions for services and sequences live updates.\n"
                 "Serves org.luod.LiveUpdate1 on the system bus ($DBUS_SYSTEM_BUS_ADDRESS).",
                 "luod"};
    app.add_option("--root", root, "Prefix of every kernel path (/dev, /sys, /proc); a luo-kernel-model root")
        ->capture_default_str();
    auto* config_option = app.add_option("--config", config_path, "Configuration file")->capture_default_str();
    app.add_option("--log-level", log_level, "Override LogLevel= (trace, debug, info, warn, error)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    app.set_version_flag("--version", LUO_VERSION);
    app.footer("Exit status: 0 after SIGTERM/SIGINT, 1 on a fatal error, 2 on bad usage or configuration.");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    luod::Config config;
    try {
        config = luod::load_config(config_path, config_option->count() > 0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luod: %s\n", e.what());
        return 2;
    }
    if (!log_level.empty())
        config.log_level = log_level;
    luod::log::setup("luod", config.log_level);

    try {
        return serve(config, root, argc > 0 ? argv[0] : nullptr);
    } catch (const sdbus::Error& e) {
        spdlog::critical("{} ({})", e.getMessage(), e.getName());
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
    }
    return 1;
}
