// SPDX-License-Identifier: Apache-2.0
// luod's single-threaded event loop: sd-event, with the sdbus-c++ 1.2 connection driven
// through its poll data (1.2 has no sd-event integration of its own), signals, deferred
// tasks, timers, fd watches and the systemd watchdog (WATCHDOG=1 when WatchdogSec= is set).
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>

namespace sdbus {
class IConnection;
}

namespace luod {

// An sd-event source with its callback; removed from the loop when destroyed.
class EventSource {
public:
    EventSource() = default;
    EventSource(sd_event_source* source, std::shared_ptr<void> callback)
        : source_(source), callback_(std::move(callback))
    {
    }
    EventSource(EventSource&& other) noexcept { *this = std::move(other); }
    EventSource& operator=(EventSource&& other) noexcept;
    ~EventSource();
    [[nodiscard]] bool active() const { return source_ != nullptr; }
    // A one-shot source that has fired.
    [[nodiscard]] bool done() const;

private:
    sd_event_source* source_ = nullptr;
    std::shared_ptr<void> callback_;
};

class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    [[nodiscard]] sd_event* get() const { return event_; }

    // Drives `bus` from this loop; a lost bus connection ends the loop with exit code 1,
    // unless `stay_without_bus` says to go on (the loop then runs without the bus).
    void attach_bus(sdbus::IConnection& bus, std::function<bool()> stay_without_bus = {});
    // Blocks `signal` and calls `handler` when it arrives.
    void on_signal(int signal, std::function<void()> handler);
    // Runs `task` once, after the current dispatch (e.g. to destroy an object from inside
    // one of its own D-Bus method handlers).
    void post(std::function<void()> task);
    // The same for a step of background work that posts its next step (the walk and restore
    // after an update): it runs only when no bus traffic, timer or other source is pending, so
    // calls are answered between steps. A posted task of the default priority would not let
    // the bus in until the chain of steps ends: sd-event dispatches the newest such task
    // before the bus's input (seen: a Version call answered only after the whole walk and
    // restore).
    void post_background(std::function<void()> task);
    // Calls `handler` once after `delay`.
    [[nodiscard]] EventSource add_timer(std::chrono::microseconds delay, std::function<void()> handler);
    // Calls `handler(revents)` whenever `fd` has any of `events` (EPOLLIN, EPOLLPRI, ...).
    [[nodiscard]] EventSource add_io(int fd, std::uint32_t events, std::function<void(std::uint32_t)> handler);

    int run();
    void exit(int code);

private:
    sd_event* event_ = nullptr;
    sdbus::IConnection* bus_ = nullptr;
    std::function<bool()> stay_without_bus_;
    sd_event_source* bus_io_ = nullptr;
    sd_event_source* bus_timer_ = nullptr;
    sd_event_source* bus_wake_ = nullptr;
    std::list<EventSource> permanent_;  // signal handlers, living as long as the loop
    std::list<EventSource> posted_;     // deferred tasks, dropped once run

    void post_at(std::function<void()> task, std::int64_t priority);
    static int on_bus_prepare(sd_event_source* source, void* self);
    static int on_bus_event(sd_event_source* source, int fd, std::uint32_t revents, void* self);
    static int on_bus_timer(sd_event_source* source, std::uint64_t usec, void* self);
    void process_bus();
};

}  // namespace luod
