// SPDX-License-Identifier: Apache-2.0
// luo-vm-scale: the client side of the scale benchmark on the real kernel (tests/vm/scale.sh,
// docs/performance.md "100,000 sessions on the real kernel"). It runs in the test machine as
// a service would: through luod's D-Bus API (luo::Client), one CreateSession and one
// PreserveFds per session, and after the kexec RetrieveSession, the files back through
// AcquireFd and the kernel's RETRIEVE_FD (what luo::ClientSession::retrieve does), Finish.
// Every figure is printed as "figure NAME VALUE" (for the host to collect) after a line for
// people.
//   luo-vm-scale hold --sessions N --files F --data-every K --luod-pid PID
//       N sessions "scale-NNNNNNN" with F memfds each ("f0".."f<F-1>"); file f0 of every K-th
//       session holds one page naming its session, the others are empty (a preserved page is
//       pinned kernel memory: 1,000,000 pages would be 4 GB). luod's resident memory is read
//       before, after the first 1,000 sessions, after their files and at the end: its cost
//       per session, per file, and per session with its files over all.
//   luo-vm-scale probe --sessions N [--luod-pid PID]
//       while luod holds them: the whole list through ListSessionsPage (1,000 a page, as
//       luoctl sessions), a property read (Manager.Sessions, a session's Files), the delay
//       of a signal (SessionNew, SessionRemoved).
//   luo-vm-scale wait-ready [--limit S] [--luod-pid PID]
//       waits until luod answers (Manager.Version, which restores nothing); luod's CPU time then.
//   luo-vm-scale verify --sessions N --files F --data-every K [--claim-every C] [--luod-pid PID]
//       after the kexec: waits for luod's background restore to end (LastUpdate written),
//       prints luod's share before and after the reboot from the report's phases, lists and
//       counts the sessions, then claims every C-th session (1: all), retrieves every file (its token from
//       Session.Files, the session fd from AcquireFd, the kernel's RETRIEVE_FD), checks the
//       size of all and the content of the pages, finishes those sessions; the others stay.
//   luo-vm-scale timeit COMMAND...
//       runs COMMAND with its output counted, not shown: its wall time and lines.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "process_memory.h"
#include "luo-dbus/sdbus_compat.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/device.h"
#include "luo/unique_fd.h"

namespace {

using Clock = std::chrono::steady_clock;
using luo::bench::rss_bytes;
using nlohmann::json;
constexpr std::size_t kPage = 4096;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void figure(const std::string& name, double value) { std::printf("figure %s %.15g\n", name.c_str(), value); }

std::string session_name(int i)
{
    char name[32];
    std::snprintf(name, sizeof name, "scale-%07d", i);
    return name;
}

// The page file f0 of a data session holds: its name, repeated.
std::string page_of(int i)
{
    std::string line = "luod scale benchmark: file f0 of session " + session_name(i) + "\n";
    std::string page;
    while (page.size() < kPage)
        page += line;
    page.resize(kPage);
    return page;
}

luo::UniqueFd memfd(const char* name)
{
    luo::UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd)
        throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
    return fd;
}

struct Options {
    int sessions = 1000;
    int files = 10;
    int data_every = 10;
    int claim_every = 1;
    pid_t luod_pid = 0;
    double limit = 600;
};

std::string bus_address()
{
    const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    return address ? address : "unix:path=/run/dbus/system_bus_socket";
}

std::unique_ptr<sdbus::IConnection> connect() { return sdbus::createSessionBusConnectionWithAddress(bus_address()); }

template <typename T>
T manager_property(sdbus::IProxy& manager, const char* property)
{
    return manager.getProperty(property).onInterface(luo::dbus::kManagerInterface).get<T>();
}

// Preserves session i's files (f0 holds a page in every data_every-th session); the pages written.
std::uint64_t preserve_files(luo::ClientSession& session, int i, const Options& o)
{
    std::uint64_t pages = 0;
    std::vector<luo::UniqueFd> fds;
    std::vector<std::pair<int, std::string>> batch;
    for (int f = 0; f < o.files; ++f) {
        fds.push_back(memfd("scale"));
        if (f == 0 && o.data_every > 0 && i % o.data_every == 0) {
            std::string page = page_of(i);
            if (::pwrite(fds.back().get(), page.data(), page.size(), 0) != static_cast<ssize_t>(page.size()))
                throw std::runtime_error(std::string("writing a memfd: ") + std::strerror(errno));
            ++pages;
        }
        batch.emplace_back(fds.back().get(), "f" + std::to_string(f));
        if (batch.size() == luo::dbus::kMaxFdsPerCall || f + 1 == o.files) {
            session.preserve(batch);
            batch.clear();
        }
    }
    return pages;
}

int hold(const Options& o)
{
    // First a batch of sessions (1,000 at most), created, then given their files: luod's
    // memory per session and per file. Then the rest, each created and given its files at
    // once. A handle (ClientSession) holds a D-Bus proxy: the client keeps none longer than
    // it needs, as a service holding a few sessions would not hold 100,000 (the bus would
    // match every message against their rules).
    luo::Client client = luo::Client::connect(bus_address());
    int first = std::min(o.sessions, 1000);
    std::uint64_t rss_start = o.luod_pid ? rss_bytes(o.luod_pid) : 0;
    std::vector<luo::ClientSession> sessions;
    auto start = Clock::now();
    for (int i = 0; i < first; ++i)
        sessions.push_back(client.create_session(session_name(i)));
    double create_s = seconds_since(start);
    std::uint64_t rss_sessions = o.luod_pid ? rss_bytes(o.luod_pid) : 0;
    std::printf("created %d sessions in %.1f s (%.1f per second)\n", first, create_s, first / create_s);
    figure("create_sessions_per_s", first / create_s);
    start = Clock::now();
    std::uint64_t pages = 0;
    for (int i = 0; i < first; ++i)
        pages += preserve_files(sessions[static_cast<std::size_t>(i)], i, o);
    double preserve_s = seconds_since(start);
    double first_files = static_cast<double>(first) * o.files;
    std::uint64_t rss_files = o.luod_pid ? rss_bytes(o.luod_pid) : 0;
    std::printf("preserved their %.0f files in %.1f s (%.1f per second)\n", first_files, preserve_s,
                first_files / preserve_s);
    figure("preserve_files_per_s", first_files / preserve_s);
    sessions.clear();

    start = Clock::now();
    for (int i = first; i < o.sessions; ++i) {
        luo::ClientSession session = client.create_session(session_name(i));
        pages += preserve_files(session, i, o);
        if ((i + 1) % 1000 == 0)
            std::printf("  %d sessions with their files, %.1f s\n", i + 1, seconds_since(start)), std::fflush(stdout);
    }
    double rest_s = seconds_since(start);
    if (o.sessions > first) {
        std::printf("then %d sessions with their files in %.1f s (%.1f sessions, %.1f files per second)\n",
                    o.sessions - first, rest_s, (o.sessions - first) / rest_s, (o.sessions - first) * o.files / rest_s);
        figure("rest_sessions_per_s", (o.sessions - first) / rest_s);
        figure("rest_s", rest_s);
    }
    figure("data_pages", static_cast<double>(pages));
    if (o.luod_pid) {
        std::uint64_t rss_all = rss_bytes(o.luod_pid);
        double per_session = (static_cast<double>(rss_sessions) - static_cast<double>(rss_start)) / first;
        double per_file =
            first_files > 0 ? (static_cast<double>(rss_files) - static_cast<double>(rss_sessions)) / first_files : 0;
        double per_session_with_files = (static_cast<double>(rss_all) - static_cast<double>(rss_start)) / o.sessions;
        std::printf("luod's RSS: %llu bytes before, %llu with %d sessions, %llu with their files, %llu with all: %.0f "
                    "bytes per session, %.0f per file, %.0f per session with its %d files over all\n",
                    static_cast<unsigned long long>(rss_start), static_cast<unsigned long long>(rss_sessions), first,
                    static_cast<unsigned long long>(rss_files), static_cast<unsigned long long>(rss_all), per_session,
                    per_file, per_session_with_files, o.files);
        figure("luod_rss_start_bytes", static_cast<double>(rss_start));
        figure("luod_rss_all_bytes", static_cast<double>(rss_all));
        figure("luod_rss_per_session_bytes", per_session);
        figure("luod_rss_per_file_bytes", per_file);
        figure("luod_rss_per_session_with_files_bytes", per_session_with_files);
    }
    return 0;
}

// Every session through ListSessionsPage, `limit` a page; the number of sessions.
std::size_t list_paged(sdbus::IProxy& manager, std::uint32_t limit, double* slowest_page)
{
    std::string after;
    std::size_t count = 0;
    *slowest_page = 0;
    do {
        std::vector<sdbus::Struct<std::string, std::string, std::uint32_t, std::string, sdbus::ObjectPath>> page;
        std::string next;
        auto start = Clock::now();
        manager.callMethod("ListSessionsPage")
            .onInterface(luo::dbus::kManagerInterface)
            .withArguments(after, limit)
            .storeResultsTo(page, next);
        *slowest_page = std::max(*slowest_page, seconds_since(start));
        count += page.size();
        after = next;
    } while (!after.empty());
    return count;
}

// Manager's signals, on a connection of their own: when each name was last seen.
class SignalWatch {
public:
    SignalWatch() : bus_(connect()), proxy_(luo::sdbus_compat::create_proxy(*bus_, luo::dbus::kBusName, luo::dbus::kManagerPath))
    {
        proxy_->uponSignal("SessionNew")
            .onInterface(luo::dbus::kManagerInterface)
            .call([this](const std::string& name, const sdbus::ObjectPath&) { seen("new " + name); });
        proxy_->uponSignal("SessionRemoved")
            .onInterface(luo::dbus::kManagerInterface)
            .call([this](const std::string& name, const sdbus::ObjectPath&) { seen("removed " + name); });
        luo::sdbus_compat::finish_proxy_registration(*proxy_);
        bus_->enterEventLoopAsync();
        // luod signals a session's news only to the connections of root and of its owner that
        // it knows, that is, that called it.
        (void)manager_property<std::string>(*proxy_, "Version");
    }
    ~SignalWatch() { bus_->leaveEventLoop(); }
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;

    // When `event` came, waiting up to a minute for it.
    std::optional<Clock::time_point> wait(const std::string& event)
    {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, std::chrono::minutes(1), [&] { return events_.count(event) > 0; });
        auto it = events_.find(event);
        return it == events_.end() ? std::nullopt : std::optional(it->second);
    }

private:
    void seen(std::string event)
    {
        std::lock_guard lock(mutex_);
        events_[std::move(event)] = Clock::now();
        changed_.notify_all();
    }
    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IProxy> proxy_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, Clock::time_point> events_;
};

int probe(const Options& o)
{
    auto bus = connect();
    auto manager = luo::sdbus_compat::create_proxy(*bus, luo::dbus::kBusName, luo::dbus::kManagerPath);
    double slowest = 0;
    auto start = Clock::now();
    std::size_t listed = list_paged(*manager, 1000, &slowest);
    double list_s = seconds_since(start);
    std::printf("ListSessionsPage, 1,000 a page: %zu sessions in %.3f s (slowest page %.1f ms)\n", listed, list_s,
                slowest * 1000);
    figure("list_paged_sessions", static_cast<double>(listed));
    figure("list_paged_s", list_s);
    figure("list_slowest_page_ms", slowest * 1000);

    start = Clock::now();
    auto count = manager_property<std::uint32_t>(*manager, "Sessions");
    double property_ms = seconds_since(start) * 1000;
    std::printf("Manager.Sessions = %u, read in %.2f ms\n", count, property_ms);
    figure("property_sessions", count);
    figure("property_sessions_ms", property_ms);
    start = Clock::now();
    (void)manager_property<std::string>(*manager, "State");
    figure("property_state_ms", seconds_since(start) * 1000);

    luo::Client client = luo::Client::connect(bus_address());
    start = Clock::now();
    luo::ClientSession middle = client.get_session(session_name(o.sessions / 2));
    std::size_t files = middle.files().size();
    double files_ms = seconds_since(start) * 1000;
    std::printf("GetSession + Session.Files of %s: %zu files, %.2f ms\n", middle.name().c_str(), files, files_ms);
    figure("property_files_ms", files_ms);

    SignalWatch watch;
    start = Clock::now();
    luo::ClientSession fresh = client.create_session("scale-probe");
    auto returned = Clock::now();
    auto signalled = watch.wait("new scale-probe");
    if (!signalled)
        throw std::runtime_error("no SessionNew signal for scale-probe within a minute");
    double call_ms = std::chrono::duration<double, std::milli>(returned - start).count();
    double signal_ms = std::chrono::duration<double, std::milli>(*signalled - start).count();
    std::printf("CreateSession answered in %.2f ms, its SessionNew signal came %.2f ms after the call\n", call_ms,
                signal_ms);
    figure("create_call_ms", call_ms);
    figure("signal_session_new_ms", signal_ms);
    start = Clock::now();
    fresh.close();
    auto removed = watch.wait("removed scale-probe");
    if (!removed)
        throw std::runtime_error("no SessionRemoved signal for scale-probe within a minute");
    figure("signal_session_removed_ms", std::chrono::duration<double, std::milli>(*removed - start).count());
    if (o.luod_pid)
        figure("luod_rss_probe_bytes", static_cast<double>(rss_bytes(o.luod_pid)));
    return listed == static_cast<std::size_t>(o.sessions) ? 0 : 1;
}

int wait_ready(const Options& o)
{
    auto start = Clock::now();
    while (seconds_since(start) < o.limit) {
        try {
            auto bus = connect();
            auto manager = luo::sdbus_compat::create_proxy(*bus, luo::dbus::kBusName, luo::dbus::kManagerPath);
            (void)manager_property<std::string>(*manager, "Version");
            figure("wait_ready_s", seconds_since(start));
            if (o.luod_pid) {
                // luod's CPU time so far (user and system): what it did itself, against the
                // wall time, which under TCG also holds the emulator's slowness after a kexec.
                std::ifstream in("/proc/" + std::to_string(o.luod_pid) + "/stat");
                std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                std::istringstream fields(stat.substr(stat.rfind(')') + 2));
                std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
                if (f.size() > 12) {
                    // user: luod's own code; system: the kernel's work in its calls (the device,
                    // retrieving its manifest).
                    auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
                    figure("luod_user_cpu_to_ready_s", static_cast<double>(std::stoull(f[11])) / ticks);
                    figure("luod_system_cpu_to_ready_s", static_cast<double>(std::stoull(f[12])) / ticks);
                }
            }
            return 0;
        } catch (const sdbus::Error&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    std::fprintf(stderr, "luo-vm-scale: luod did not answer within %.0f s\n", o.limit);
    return 1;
}

double phase_ms(const json& phases, const char* from, const char* to)
{
    if (!phases.contains(from) || !phases.contains(to))
        return -1;
    return (phases[to].get<double>() - phases[from].get<double>()) / 1000;
}

double now_realtime_usec()
{
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

int verify(const Options& o)
{
    auto bus = connect();
    auto manager = luo::sdbus_compat::create_proxy(*bus, luo::dbus::kBusName, luo::dbus::kManagerPath);
    // Once luod has read every session's owner in the background, the update's report is
    // written with their outcomes. Until then LastUpdate answers at once with the report so
    // far; polled, since the wait is seconds to minutes and a signal missed before
    // subscribing would hang it. Each read is timed: the property must stay responsive.
    auto start = Clock::now();
    json report;
    double first_read_ms = -1, slowest_read_ms = 0;
    for (;;) {
        auto asked = Clock::now();
        report = json::parse(manager_property<std::string>(*manager, "LastUpdate"));
        double read_ms = seconds_since(asked) * 1000;
        if (first_read_ms < 0)
            first_read_ms = read_ms;
        slowest_read_ms = std::max(slowest_read_ms, read_ms);
        if (report.contains("session_outcomes") || seconds_since(start) > o.limit)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::printf("LastUpdate: the first read answered in %.1f ms, the slowest of the reads until the report was whole "
                "in %.1f ms\n",
                first_read_ms, slowest_read_ms);
    figure("last_update_first_read_ms", first_read_ms);
    figure("last_update_slowest_read_ms", slowest_read_ms);
    double now = now_realtime_usec();
    if (report.value("result", "") != "success" || !report.contains("phases"))
        throw std::runtime_error("the update's report says no success: " + report.dump().substr(0, 2000));
    const json& p = report["phases"];
    double before = phase_ms(p, "update_requested", "reboot_called");
    double after = phase_ms(p, "first_start", "restore_ready");
    double background = (now - p["restore_ready"].get<double>()) / 1000;
    std::printf("luod's share of the blackout: before the reboot %.1f ms (update_requested -> reboot_called), after "
                "the boot %.1f ms (first_start -> restore_ready): %.1f ms\n",
                before, after, before + after);
    std::printf("luod wrote the update's report with every session's outcome %.1f ms after it was ready (seen by "
                "polling LastUpdate every 100 ms)\n",
                background);
    std::printf("the report: %llu sessions, %llu files at the reboot\n",
                static_cast<unsigned long long>(report.value("sessions", 0ULL)),
                static_cast<unsigned long long>(report.value("files", 0ULL)));
    figure("share_before_ms", before);
    figure("share_after_ms", after);
    figure("share_ms", before + after);
    figure("barrier_ms", phase_ms(p, "update_requested", "barrier_passed"));
    figure("background_restore_ms", background);
    figure("report_sessions", report.value("sessions", 0.0));
    figure("report_files", report.value("files", 0.0));
    figure("report_outcomes", static_cast<double>(report["session_outcomes"].size()));
    if (o.luod_pid)
        figure("luod_rss_restored_bytes", static_cast<double>(rss_bytes(o.luod_pid)));

    double slowest = 0;
    start = Clock::now();
    std::size_t listed = list_paged(*manager, 1000, &slowest);
    std::printf("ListSessionsPage after the update: %zu sessions in %.3f s (slowest page %.1f ms)\n", listed,
                seconds_since(start), slowest * 1000);
    figure("list_after_sessions", static_cast<double>(listed));
    figure("list_after_s", seconds_since(start));

    luo::Client client = luo::Client::connect(bus_address());
    start = Clock::now();
    std::size_t claimed = 0, retrieved = 0, pages_ok = 0, bad = 0;
    std::string page(kPage, '\0');
    for (int i = 0; i < o.sessions; i += o.claim_every) {
        luo::ClientSession session = client.retrieve_session(session_name(i));
        ++claimed;
        // As a service takes back many files: their tokens from Session.Files once, the
        // session fd from AcquireFd once, then LIVEUPDATE_SESSION_RETRIEVE_FD for each
        // (ClientSession::retrieve(label) asks luod for the tokens at every call).
        std::vector<luo::FileInfo> infos = session.files();
        if (infos.size() != static_cast<std::size_t>(o.files) && bad++ < 10)
            std::printf("%s: %zu files, not %d\n", session.name().c_str(), infos.size(), o.files);
        {
            luo::Session kernel(session.acquire_fd(), luo::SessionKind::incoming);
            for (const luo::FileInfo& info : infos) {
                luo::UniqueFd fd = kernel.retrieve_fd(info.token);
                ++retrieved;
                struct stat st {};
                if (::fstat(fd.get(), &st) < 0)
                    throw std::runtime_error(std::string("fstat: ") + std::strerror(errno));
                bool data = info.label == "f0" && o.data_every > 0 && i % o.data_every == 0;
                if (static_cast<std::size_t>(st.st_size) != (data ? kPage : 0)) {
                    if (bad++ < 10)
                        std::printf("%s %s: %lld bytes, not %zu\n", session.name().c_str(), info.label.c_str(),
                                    static_cast<long long>(st.st_size), data ? kPage : 0);
                    continue;
                }
                if (data) {
                    if (::pread(fd.get(), page.data(), kPage, 0) == static_cast<ssize_t>(kPage) && page == page_of(i))
                        ++pages_ok;
                    else if (bad++ < 10)
                        std::printf("%s f0: its page is not the one written before the update\n",
                                    session.name().c_str());
                }
            }
        }
        session.finish();
        if (claimed % 1000 == 0)
            std::printf("  claimed %zu sessions, %.1f s\n", claimed, seconds_since(start)), std::fflush(stdout);
    }
    double claim_s = seconds_since(start);
    std::printf("claimed %zu sessions, retrieved %zu files (%zu pages of data, content checked), finished them all: "
                "%.1f s (%.0f files per second); %zu wrong\n",
                claimed, retrieved, pages_ok, claim_s, retrieved / claim_s, bad);
    figure("claimed_sessions", static_cast<double>(claimed));
    figure("retrieved_files", static_cast<double>(retrieved));
    figure("verified_pages", static_cast<double>(pages_ok));
    figure("wrong_files", static_cast<double>(bad));
    figure("claim_retrieve_finish_s", claim_s);
    auto left = manager_property<std::uint32_t>(*manager, "IncomingSessions");
    figure("sessions_left", left);
    std::size_t to_claim = static_cast<std::size_t>((o.sessions + o.claim_every - 1) / o.claim_every);
    bool ok = bad == 0 && claimed == to_claim && retrieved == to_claim * static_cast<std::size_t>(o.files) &&
              listed == static_cast<std::size_t>(o.sessions) && left == o.sessions - to_claim &&
              report.value("sessions", 0) == o.sessions && report.value("files", 0LL) == 1LL * o.sessions * o.files;
    std::printf("%s\n", ok ? "every session and file came back" : "NOT every session and file came back as written");
    return ok ? 0 : 1;
}

int timeit(char** argv)
{
    int out[2];
    if (::pipe2(out, O_CLOEXEC) < 0)
        throw std::runtime_error("pipe2");
    auto start = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::execvp(argv[0], argv);
        _exit(127);
    }
    ::close(out[1]);
    std::size_t lines = 0;
    char buffer[65536];
    for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;)
        for (ssize_t k = 0; k < n; ++k)
            lines += buffer[k] == '\n';
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    double s = seconds_since(start);
    std::printf("%s: %.3f s, %zu lines, exit status %d\n", argv[0], s, lines, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    figure("timeit_s", s);
    figure("timeit_lines", static_cast<double>(lines));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: luo-vm-scale hold|probe|wait-ready|verify [options] | timeit COMMAND...\n");
        return 2;
    }
    std::string command = argv[1];
    try {
        if (command == "timeit" && argc > 2)
            return timeit(argv + 2);
        Options o;
        for (int i = 2; i + 1 < argc; i += 2) {
            std::string option = argv[i];
            if (option == "--sessions")
                o.sessions = std::stoi(argv[i + 1]);
            else if (option == "--files")
                o.files = std::stoi(argv[i + 1]);
            else if (option == "--data-every")
                o.data_every = std::stoi(argv[i + 1]);
            else if (option == "--claim-every")
                o.claim_every = std::stoi(argv[i + 1]);
            else if (option == "--luod-pid")
                o.luod_pid = std::stoi(argv[i + 1]);
            else if (option == "--limit")
                o.limit = std::stod(argv[i + 1]);
            else
                throw std::invalid_argument("unknown option " + option);
        }
        if (o.sessions < 1 || o.files < 0 || o.claim_every < 1)
            throw std::invalid_argument("--sessions and --claim-every must be at least 1, --files at least 0");
        int rc = 2;
        if (command == "hold")
            rc = hold(o);
        else if (command == "probe")
            rc = probe(o);
        else if (command == "wait-ready")
            rc = wait_ready(o);
        else if (command == "verify")
            rc = verify(o);
        else
            std::fprintf(stderr, "luo-vm-scale: unknown command '%s'\n", command.c_str());
        std::fflush(stdout);
        return rc;
    } catch (const luo::ClientError& e) {
        std::fprintf(stderr, "luo-vm-scale %s: %s: %s\n", command.c_str(), e.name().c_str(), e.message().c_str());
    } catch (const sdbus::Error& e) {
        std::fprintf(stderr, "luo-vm-scale %s: %s: %s\n", command.c_str(), e.getName().c_str(), e.getMessage().c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luo-vm-scale %s: %s\n", command.c_str(), e.what());
    }
    return 1;
}
