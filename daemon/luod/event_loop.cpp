// SPDX-License-Identifier: Apache-2.0
#include "event_loop.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>

#include <cstring>
#include <stdexcept>

#include "luo-dbus/sdbus_compat.h"

namespace luod {

namespace {

void check(int rc, const char* what)
{
    if (rc < 0)
        throw std::runtime_error(std::string(what) + ": " + std::strerror(-rc));
}

template <typename F>
int run_callback(void* userdata, const F& call)
{
    try {
        call(*static_cast<std::function<void()>*>(userdata));
    } catch (const std::exception& e) {
        spdlog::error("event handler failed: {}", e.what());
    }
    return 0;
}

// One-shot sources run a copy moved out of their storage: the task may well cause its own
// source to be dropped (a posted task that posts again prunes finished ones), and must not
// be destroyed while it runs.
int run_once(void* userdata)
{
    std::function<void()> task = std::move(*static_cast<std::function<void()>*>(userdata));
    try {
        if (task)
            task();
    } catch (const std::exception& e) {
        spdlog::error("event handler failed: {}", e.what());
    }
    return 0;
}

}  // namespace

EventSource& EventSource::operator=(EventSource&& other) noexcept
{
    if (this != &other) {
        if (source_) {
            sd_event_source_set_enabled(source_, SD_EVENT_OFF);
            sd_event_source_unref(source_);
        }
        source_ = std::exchange(other.source_, nullptr);
        callback_ = std::move(other.callback_);
    }
    return *this;
}

EventSource::~EventSource()
{
    if (source_) {
        sd_event_source_set_enabled(source_, SD_EVENT_OFF);
        sd_event_source_unref(source_);
    }
}

bool EventSource::done() const
{
    int enabled = SD_EVENT_OFF;
    return !source_ || (sd_event_source_get_enabled(source_, &enabled) >= 0 && enabled == SD_EVENT_OFF);
}

EventLoop::EventLoop()
{
    check(sd_event_new(&event_), "sd_event_new");
    // Sends WATCHDOG=1 at half the interval when the unit sets WatchdogSec=.
    sd_event_set_watchdog(event_, true);
}

EventLoop::~EventLoop()
{
    posted_.clear();
    permanent_.clear();
    if (bus_io_)
        sd_event_source_unref(bus_io_);
    if (bus_timer_)
        sd_event_source_unref(bus_timer_);
    if (bus_wake_)
        sd_event_source_unref(bus_wake_);
    sd_event_unref(event_);
}

void EventLoop::attach_bus(sdbus::IConnection& bus, std::function<bool()> stay_without_bus)
{
    bus_ = &bus;
    stay_without_bus_ = std::move(stay_without_bus);
    auto poll = luo::sdbus_compat::poll_request(bus);
    check(sd_event_add_io(event_, &bus_io_, poll.fd, static_cast<std::uint32_t>(poll.events), on_bus_event, this),
          "watch the bus");
    if (poll.wake_fd >= 0)  // sdbus-c++ 2: work queued on the connection by another thread
        check(sd_event_add_io(event_, &bus_wake_, poll.wake_fd, EPOLLIN, on_bus_event, this), "watch the bus");
    check(sd_event_source_set_prepare(bus_io_, on_bus_prepare), "watch the bus");
    check(sd_event_add_time(event_, &bus_timer_, CLOCK_MONOTONIC, UINT64_MAX, 0, on_bus_timer, this), "bus timer");
    sd_event_source_set_enabled(bus_timer_, SD_EVENT_OFF);
}

// Before each poll: wait for what sd-bus wants next, and until its next timeout.
int EventLoop::on_bus_prepare(sd_event_source*, void* self)
{
    auto* loop = static_cast<EventLoop*>(self);
    auto poll = luo::sdbus_compat::poll_request(*loop->bus_);
    sd_event_source_set_io_events(loop->bus_io_, static_cast<std::uint32_t>(poll.events));
    if (poll.deadline_usec == UINT64_MAX) {
        sd_event_source_set_enabled(loop->bus_timer_, SD_EVENT_OFF);
    } else {
        sd_event_source_set_time(loop->bus_timer_, poll.deadline_usec);
        sd_event_source_set_enabled(loop->bus_timer_, SD_EVENT_ONESHOT);
    }
    return 0;
}

int EventLoop::on_bus_event(sd_event_source*, int, std::uint32_t, void* self)
{
    static_cast<EventLoop*>(self)->process_bus();
    return 0;
}

int EventLoop::on_bus_timer(sd_event_source*, std::uint64_t, void* self)
{
    static_cast<EventLoop*>(self)->process_bus();
    return 0;
}

void EventLoop::process_bus()
{
    try {
        while (luo::sdbus_compat::process_pending(*bus_)) {
        }
    } catch (const sdbus::Error& e) {
        if (stay_without_bus_ && stay_without_bus_()) {
            // The dead connection's fd would wake the loop for ever: it is no longer watched.
            spdlog::warn("lost the bus connection: {} ({}); going on without it", e.getMessage(), e.getName());
            for (sd_event_source* source : {bus_io_, bus_timer_, bus_wake_})
                if (source)
                    sd_event_source_set_enabled(source, SD_EVENT_OFF);
            return;
        }
        spdlog::critical("lost the bus connection: {} ({})", e.getMessage(), e.getName());
        exit(1);
    }
}

void EventLoop::on_signal(int signal, std::function<void()> handler)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, signal);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    auto callback = std::make_shared<std::function<void()>>(std::move(handler));
    sd_event_source* source = nullptr;
    check(sd_event_add_signal(event_, &source, signal,
                              [](sd_event_source*, const signalfd_siginfo*, void* data) {
                                  return run_callback(data, [](auto& f) { f(); });
                              },
                              callback.get()),
          "signal handler");
    permanent_.emplace_back(source, callback);
}

void EventLoop::post(std::function<void()> task) { post_at(std::move(task), SD_EVENT_PRIORITY_NORMAL); }

void EventLoop::post_background(std::function<void()> task) { post_at(std::move(task), SD_EVENT_PRIORITY_IDLE); }

void EventLoop::post_at(std::function<void()> task, std::int64_t priority)
{
    auto callback = std::make_shared<std::function<void()>>(std::move(task));
    sd_event_source* source = nullptr;
    check(sd_event_add_defer(event_, &source,
                             [](sd_event_source* s, void* data) {
                                 sd_event_source_set_enabled(s, SD_EVENT_OFF);
                                 return run_once(data);
                             },
                             callback.get()),
          "defer");
    if (priority != SD_EVENT_PRIORITY_NORMAL)
        sd_event_source_set_priority(source, priority);
    sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
    posted_.remove_if([](const EventSource& e) { return e.done(); });
    posted_.emplace_back(source, callback);
}

EventSource EventLoop::add_timer(std::chrono::microseconds delay, std::function<void()> handler)
{
    auto callback = std::make_shared<std::function<void()>>(std::move(handler));
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    sd_event_source* source = nullptr;
    check(sd_event_add_time(event_, &source, CLOCK_MONOTONIC, now + static_cast<std::uint64_t>(delay.count()), 0,
                            [](sd_event_source*, std::uint64_t, void* data) { return run_once(data); },
                            callback.get()),
          "timer");
    return EventSource(source, callback);
}

EventSource EventLoop::add_io(int fd, std::uint32_t events, std::function<void(std::uint32_t)> handler)
{
    auto callback = std::make_shared<std::function<void(std::uint32_t)>>(std::move(handler));
    sd_event_source* source = nullptr;
    check(sd_event_add_io(event_, &source, fd, events,
                          [](sd_event_source*, int, std::uint32_t revents, void* data) {
                              try {
                                  (*static_cast<std::function<void(std::uint32_t)>*>(data))(revents);
                              } catch (const std::exception& e) {
                                  spdlog::error("event handler failed: {}", e.what());
                              }
                              return 0;
                          },
                          callback.get()),
          "watch fd");
    return EventSource(source, callback);
}

int EventLoop::run() { return sd_event_loop(event_); }

void EventLoop::exit(int code) { sd_event_exit(event_, code); }

}  // namespace luod
