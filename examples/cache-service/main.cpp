// SPDX-License-Identifier: Apache-2.0
// luo-cache-service: an example service that keeps a memfd-backed cache across live updates
// through luod (luo::Client). The cache is a memfd it maps and updates in place; luod holds
// it preserved in the session "cache-demo", so the next kernel hands back the same pages.
//
// How it starts (luo::Client::open_session):
//   incoming  a live update carried the session: retrieve the memfd (charged to us), check
//             it, finish the incoming session, preserve the memfd in a new outgoing session.
//   reopened  the service restarted between updates; luod kept its outgoing session. luod
//             gives files back only from incoming sessions, and the kernel has no way to
//             retrieve a file from an outgoing one, so the preserved memfd is out of reach
//             through luod. The service therefore also parks the memfd in systemd's fd store
//             (FileDescriptorStoreMax=1), and takes it back from there. Without that copy
//             the honest course is to close the session (dropping the unreachable copy) and
//             start a new cache, rather than carry stale data into the next kernel.
//   created   no session yet: a new memfd at its full size (a preserved memfd cannot be
//             resized), preserved under the label "cache".
// Then it updates the cache every --interval-ms. It holds a delay lock (Inhibit) so that an
// update waits for it: on PrepareForUpdate(true) it stops writing and releases the lock; on
// PrepareForUpdate(false) it takes it again and resumes. SIGTERM/SIGINT end it with status 0;
// luod keeps the session.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cache.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/error.h"
#include "luo/unique_fd.h"
#include "stop_signals.h"
#include "service_manager.h"

namespace {

using cache_service::Cache;
using cache_service::InvalidCache;
using cache_service::ServiceManager;
using Clock = std::chrono::steady_clock;

constexpr const char* kCacheLabel = "cache";
constexpr std::uint64_t kMiB = 1024 * 1024;

struct Options {
    std::string session = "cache-demo";
    std::uint64_t size_mib = 16;
    std::optional<std::uint64_t> updates;  // unset: until SIGTERM or SIGINT
    std::uint32_t interval_ms = 1000;
};

void say(const std::string& line)
{
    std::printf("luo-cache-service: %s\n", line.c_str());
    std::fflush(stdout);
}

void complain(const std::string& line) { std::fprintf(stderr, "luo-cache-service: %s\n", line.c_str()); }

std::string describe(const Cache& cache)
{
    return "generation " + std::to_string(cache.generation()) + ", " + std::to_string(cache.entry_count()) + " entries";
}

struct Running {
    luo::ClientSession session;
    Cache cache;
};

Cache new_cache(const Options& options)
{
    Cache cache = Cache::create(options.size_mib * kMiB);
    say("new cache of " + std::to_string(options.size_mib) + " MiB, room for " + std::to_string(cache.capacity()) +
        " entries");
    return cache;
}

// Into systemd's fd store first, then into the session: whichever step a crash interrupts,
// the next start finds the memfd in the fd store.
void keep_and_preserve(ServiceManager& systemd, luo::ClientSession& session, const Cache& cache)
{
    systemd.store(kCacheLabel, cache.fd());
    std::uint64_t token = session.preserve(cache.fd(), kCacheLabel);
    say("preserved the cache in session " + session.name() + " (label \"" + kCacheLabel + "\", token " +
        std::to_string(token) + ")");
}

Running start_after_update(luo::Client& client, luo::ClientSession incoming, const Options& options,
                           ServiceManager& systemd)
{
    std::optional<Cache> cache;
    try {
        cache = Cache::open(incoming.retrieve(kCacheLabel));
        cache->count_live_update();
        say("restored cache: " + describe(*cache));
        say("the cache has come through " + std::to_string(cache->live_updates()) + " live update(s)");
        if (cache->size_bytes() != options.size_mib * kMiB)
            say("keeping its size of " + std::to_string(cache->size_bytes() / kMiB) +
                " MiB (--size-mib applies to new caches)");
    } catch (const InvalidCache& e) {
        say(std::string("the cache carried over is unusable (") + e.what() + "): starting a new one");
    } catch (const luo::ClientError& e) {
        if (e.name() != luo::dbus::error::kNoSuchFile)
            throw;
        say("session " + options.session + " came across without a cache: starting a new one");
    }
    if (!cache)
        cache = new_cache(options);

    systemd.store(kCacheLabel, cache->fd());
    // Finished before the memfd is preserved again: until then the kernel counts it as
    // managed by the incoming session (EBUSY), and luod holds the session's name.
    incoming.finish();
    say("finished the incoming session " + options.session);
    luo::ClientSession outgoing = client.create_session(options.session);
    keep_and_preserve(systemd, outgoing, *cache);
    return {std::move(outgoing), std::move(*cache)};
}

bool preserves_cache(luo::ClientSession& session)
{
    auto files = session.files();
    return std::any_of(files.begin(), files.end(), [](const luo::FileInfo& f) { return f.label == kCacheLabel; });
}

Running start_between_updates(luo::Client& client, luo::ClientSession session, luo::Client::Opened how,
                              const Options& options, ServiceManager& systemd)
{
    std::optional<Cache> kept;
    if (auto fd = systemd.take_passed(kCacheLabel)) {
        try {
            kept = Cache::open(std::move(*fd));
        } catch (const InvalidCache& e) {
            say(std::string("ignoring the memfd in the systemd fd store: ") + e.what());
        }
    }

    if (how == luo::Client::Opened::reopened && preserves_cache(session)) {
        // The copy in the fd store is the preserved memfd itself (stored before preserving),
        // so writing to it updates what the next kernel gets.
        if (kept) {
            say("reopened session " + options.session + "; resumed its cache from the systemd fd store: " +
                describe(*kept));
            return {std::move(session), std::move(*kept)};
        }
        say("session " + options.session +
            " preserves a cache this process cannot reach (luod returns files of incoming sessions only, and "
            "there is no copy in a systemd fd store): closing the session and starting afresh");
        session.close();
        session = client.create_session(options.session);
        how = luo::Client::Opened::created;
    }

    say((how == luo::Client::Opened::created ? "created session " : "reopened session ") + options.session);
    Cache cache = kept ? std::move(*kept) : new_cache(options);
    if (kept)
        say("reusing the cache from the systemd fd store: " + describe(cache));
    keep_and_preserve(systemd, session, cache);
    return {std::move(session), std::move(cache)};
}

luo::UniqueFd take_delay_lock(luo::Client& client, const std::string& session)
{
    try {
        return client.inhibit("luo-cache-service", "quiesces the cache of session " + session + " before the kexec",
                              "delay");
    } catch (const luo::ClientError& e) {
        complain("no delay lock (" + e.name() + ": " + e.message() +
                 "): an update will not wait for the cache to quiesce");
        return {};
    }
}

int serve(luo::Client& client, Running& running, const Options& options, int signal_fd, const luo::UpdateSignalPipe& updates)
{
    // Subscribed before the lock is taken, so that no PrepareForUpdate(true) falls between.
    client.on_prepare_for_update([&updates](bool start) { updates.post(start); });
    luo::UniqueFd delay_lock = take_delay_lock(client, options.session);
    bool quiesced = client.state() == "preparing";
    if (quiesced) {
        delay_lock.reset();
        say("an update is being prepared: leaving the cache alone");
    }

    const auto interval = std::chrono::milliseconds(options.interval_ms);
    std::uint64_t done = 0;
    auto next = Clock::now() + interval;
    while (!options.updates || done < *options.updates) {
        int timeout_ms = -1;
        if (!quiesced) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
            timeout_ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
        }
        pollfd fds[] = {{signal_fd, POLLIN, 0}, {updates.fd(), POLLIN, 0}};
        if (::poll(fds, 2, timeout_ms) < 0) {
            if (errno == EINTR)
                continue;
            luo::throw_last_errno("poll");
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info{};
            [[maybe_unused]] ssize_t n = ::read(signal_fd, &info, sizeof info);
            say(std::string("stopping on ") + (info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM") + " at " +
                describe(running.cache) + "; luod keeps session " + options.session);
            return 0;
        }
        if (fds[1].revents & POLLIN) {
            for (bool start : updates.take()) {
                if (start && !quiesced) {
                    quiesced = true;
                    delay_lock.reset();
                    say("update starting: cache quiesced at " + describe(running.cache) + ", delay lock released");
                } else if (!start && quiesced) {
                    quiesced = false;
                    delay_lock = take_delay_lock(client, options.session);
                    next = Clock::now() + interval;
                    say("update cancelled: resuming");
                }
            }
            continue;
        }
        if (quiesced || Clock::now() < next)
            continue;
        running.cache.update();
        ++done;
        say(describe(running.cache));
        // After a stall, carry on from now rather than catch up in a burst.
        next = std::max(next + interval, Clock::now());
    }
    say("made " + std::to_string(done) + " update(s); exiting at " + describe(running.cache) + ", luod keeps session " +
        options.session);
    return 0;
}

int run(const Options& options, int signal_fd)
{
    luo::UpdateSignalPipe updates;  // outlives the client, whose signal thread writes to it
    ServiceManager systemd;
    if (!systemd.present())
        say("not started by systemd: without its fd store, a restart before the next update starts a new cache");

    luo::Client client = luo::Client::connect();
    luo::Client::Opened how{};
    luo::ClientSession session = client.open_session(options.session, &how);
    Running running = how == luo::Client::Opened::incoming
                          ? start_after_update(client, std::move(session), options, systemd)
                          : start_between_updates(client, std::move(session), how, options, systemd);
    systemd.notify_ready();
    int status = serve(client, running, options, signal_fd, updates);
    systemd.notify_stopping();
    return status;
}

}  // namespace

int main(int argc, char** argv)
{
    Options options;
    CLI::App app{"Keeps a memfd-backed cache across live updates through luod.", "luo-cache-service"};
    app.add_option("--session", options.session, "luod session name")->capture_default_str();
    app.add_option("--size-mib", options.size_mib, "size of a new cache in MiB")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    std::uint64_t updates = 0;
    auto* updates_option =
        app.add_option("--updates", updates, "make this many cache updates, then exit (default: run until SIGTERM)")
            ->check(CLI::Validator(
                [](const std::string& value) {
                    // CLI11 would wrap "-1" around to a huge unsigned count.
                    bool digits = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
                        return c >= '0' && c <= '9';
                    });
                    return digits ? std::string() : "expects a count (0 or more), not " + value;
                },
                "COUNT"));
    app.add_option("--interval-ms", options.interval_ms, "time between cache updates")
        ->capture_default_str()
        ->check(CLI::Range(1, 3'600'000));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (updates_option->count() > 0)
        options.updates = updates;

    try {
        luo::UniqueFd signal_fd = luo::examples::stop_signal_fd();
        return run(options, signal_fd.get());
    } catch (const luo::ClientError& e) {
        complain("D-Bus error " + e.name() + ": " + e.message());
        return 1;
    } catch (const std::exception& e) {
        complain(e.what());
        return 1;
    }
}
