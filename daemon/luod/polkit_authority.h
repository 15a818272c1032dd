// SPDX-License-Identifier: Apache-2.0
// Asks polkit (org.freedesktop.PolicyKit1.Authority.CheckAuthorization on the system bus)
// whether a caller may do one of luod's root-only actions (polkit_actions.h), so that an
// administrator can delegate them. Asynchronous on luod's event loop, like systemd_manager.h:
// luod never waits for polkit. Without interaction: an answer that needs authentication
// (polkit's "challenge") is a no. Without polkit on the bus (or any failure to ask) the answer is
// no too: root only.
#pragma once

#include <systemd/sd-bus.h>

#include <functional>
#include <memory>
#include <string>

namespace luod {

class EventLoop;

class PolkitAuthority {
public:
    explicit PolkitAuthority(EventLoop& loop);
    ~PolkitAuthority();
    PolkitAuthority(const PolkitAuthority&) = delete;
    PolkitAuthority& operator=(const PolkitAuthority&) = delete;

    // Connects to the system bus (now, so luod's fds do not change while it serves). Without a
    // bus every answer is no; the failure is logged.
    void start();
    // Drops the connection and with it every question not yet answered (their `done` is never
    // called): before whatever the answers would reach goes away.
    void stop();

    // Whether the connection `sender` (a unique bus name) may do `action`: `done(true)` or
    // `done(false)` once polkit answered, or at once when it cannot be asked. Never throws.
    void check(const std::string& sender, const std::string& action, std::function<void(bool allowed)> done);

private:
    struct BusDeleter {
        void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
    };

    EventLoop& loop_;
    std::unique_ptr<sd_bus, BusDeleter> bus_;
};

}  // namespace luod
