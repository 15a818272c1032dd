// SPDX-License-Identifier: Apache-2.0
// bench-blackout: luod's share of a live update's blackout on the kernel model, for 1, 1,000
// and 5,000 sessions (one 1 MiB memfd each), in one run:
//   before the reboot  the services are told (PrepareForUpdate(true), the report's
//                      update_requested) -> the model receives reboot(KEXEC) (barrier with no
//                      inhibitors, manifest, sync(2), the call). What comes before, while the
//                      services still run (the checks, a first sync(2)), is shown apart:
//                      "from the call" starts at the Update() call;
//   the model's kexec  reboot request -> the next kernel is up (freeze, serialize, end
//                      userspace, exec, restore) — the "kernel's" share, for context;
//   after the boot     luod's first start in the new kernel -> restore ready.
// How long init takes to start luod again is the harness's, not luod's, and is left out.
// For each count it also gives luod's share as a multiple of the 1-session one, luod's
// resident memory per session (before the update, and after the boot once every session is
// restored), the load average at the time, and luod's own start-up steps. Then it preserves
// files through luod's PreserveFds and through libluo directly on the model, and luod's
// memory per file.
// Each count is measured --rounds times (3), the rounds of all counts interleaved (round 1 of
// each count, then round 2 of each, ...) so that the machine's load moves every count alike;
// the round of median share is reported, every round's share is printed, and the ratio is of
// the medians. After the boot is broken down from luod's start-up steps (its debug log): luod
// on the CPU, luod waiting for a CPU (runnable, the machine busy), and luod blocked (waiting
// for the kernel, the bus or a file), with the CPU time the model and dbus-daemon used while
// luod started.
// Usage: bench-blackout [--sessions N,...] [--files N] [--rounds N] [--csv FILE]
//   --csv: one line per session count (scripts/plot-blackout.sh draws it)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sdbus-c++/sdbus-c++.h>
#include <sstream>
#include <thread>

#include "process_memory.h"
#include "direct_preserve.h"
#include "eventually.h"
#include "harness.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/device.h"
#include "luo/model_control.h"
#include "luod_harness.h"

using namespace luo;
using namespace luo::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using luo::bench::rss_bytes;

namespace {

constexpr int kFilesPerSession = 500;

std::uint64_t now_usec()
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// The 1-minute load average: the machine is shared, and the figures move with it.
double load_average()
{
    std::ifstream in("/proc/loadavg");
    double one = 0;
    in >> one;
    return one;
}

// CPU time of every thread of `pid` so far, in ms (schedstat: nanoseconds, unlike /proc/PID/stat).
double cpu_ms(pid_t pid)
{
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream in(task.path() / "schedstat");
        std::uint64_t run = 0;
        if (in >> run)
            total += run;
    }
    return static_cast<double>(total) / 1e6;
}

// One step of luod's start (clock.h): its wall time, luod's main thread on the CPU, and
// waiting for a CPU, in ms.
struct Step {
    std::string name;
    double wall = 0, cpu = 0, queued = 0;
    long faults = 0, waits = 0, preempted = 0;
    [[nodiscard]] double blocked() const { return std::max(0.0, wall - cpu - queued); }
};

std::vector<Step> parse_startup(const std::string& line)
{
    static const std::regex step(
        R"(([a-z-]+) (\d+) us \(cpu (\d+) us, queued (\d+) us, (\d+) faults, (\d+) waits, (\d+) preempted[^)]*\))");
    std::vector<Step> out;
    for (std::sregex_iterator it(line.begin(), line.end(), step), end; it != end; ++it) {
        const std::smatch& m = *it;
        out.push_back(Step{m[1], std::stod(m[2]) / 1000, std::stod(m[3]) / 1000, std::stod(m[4]) / 1000,
                           std::stol(m[5]), std::stol(m[6]), std::stol(m[7])});
    }
    return out;
}

struct Row {
    int sessions = 0;
    double before = 0, kernel = 0, after = 0, share = 0, ratio = 0;
    double luod_before = 0;  // of `before`: PrepareForUpdate(true) -> luod calls reboot(2)
    double from_call = 0;    // Update() called -> the model receives reboot(KEXEC)
    double sync = 0;         // of `before`: luod's sync(2) right before reboot(2) (its debug log)
    double share_min = 0, share_max = 0;  // over the rounds
    double rss_per_session = 0, rss_per_session_after = 0;
    std::uint64_t rss_empty = 0, rss_full = 0;
    double load = 0;
    std::string startup;
    std::vector<Step> steps;
    double model_cpu = 0, bus_cpu = 0;  // ms used while luod started (from its exec to ready)
    [[nodiscard]] double sum(double Step::*field) const
    {
        double total = 0;
        for (const Step& s : steps)
            total += s.*field;
        return total;
    }
    [[nodiscard]] double blocked() const
    {
        double total = 0;
        for (const Step& s : steps)
            total += s.blocked();
        return total;
    }
    [[nodiscard]] long faults() const
    {
        long total = 0;
        for (const Step& s : steps)
            total += s.faults;
        return total;
    }
};

Row measure(int sessions)
{
    Row row;
    row.sessions = sessions;
    ModelOptions mo("7.2");
    mo.machine = true;
    ModelProcess model(mo);
    SystemBus bus;
    LuodOptions options;
    options.config = "[Sessions]\nMaxSessionsPerUser=100000\n[Daemon]\nManifestSizeMiB=32\n";
    LuodProcess luod(model, bus, options);
    LuodClient c(bus.address());
    (void)c.manager_u32("Sessions");
    row.rss_empty = rss_bytes(luod.pid());
    {
        Client client = Client::connect(bus.address());
        for (int i = 0; i < sessions; ++i) {
            UniqueFd memfd = make_memfd("ram");
            if (::ftruncate(memfd.get(), 1 << 20) < 0)
                throw std::runtime_error("ftruncate");
            client.create_session("vm-" + std::to_string(i)).preserve(memfd.get(), "ram");
        }
    }
    (void)c.manager_u32("Sessions");
    row.rss_full = rss_bytes(luod.pid());
    auto image = model.root().parent_path() / (model.root().filename().native() + "-vmlinuz");
    model::write_kernel_image(image, "7.2");
    c.manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
        .withArguments(image.native(), std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
    std::string boot = model.boot_id();
    std::uint64_t requested = now_usec();
    c.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    model.wait_for_boot(boot);
    luod.wait_exit();
    luod.notify().replace_store();
    double model_before = cpu_ms(model.pid()), bus_before = cpu_ms(bus.pid());
    luod.start();
    row.model_cpu = cpu_ms(model.pid()) - model_before;
    row.bus_cpu = cpu_ms(bus.pid()) - bus_before;
    row.load = load_average();
    json report;
    (void)eventually(
        [&] {
            report = json::parse(c.manager_string("LastUpdate"));  // complete once every session is restored
            return report.value("result", "") == "success";
        },
        std::chrono::seconds(30), std::chrono::milliseconds(5));  // the report says what it got
    if (report.value("result", "") != "success")
        throw std::runtime_error("the update did not succeed: " + report.dump());
    std::uint64_t rss_after = rss_bytes(luod.pid());
    json kexec = json::parse(model::status_json(model.root()))["kexec"];
    const json& p = report["phases"];
    row.from_call = (kexec["reboot_request_usec"].get<double>() - static_cast<double>(requested)) / 1000;
    row.before = (kexec["reboot_request_usec"].get<double>() - p["update_requested"].get<double>()) / 1000;
    row.luod_before = (p["reboot_called"].get<double>() - p["update_requested"].get<double>()) / 1000;
    row.kernel = (kexec["booted_usec"].get<double>() - kexec["reboot_request_usec"].get<double>()) / 1000;
    row.after = (p["restore_ready"].get<double>() - p["first_start"].get<double>()) / 1000;
    row.share = row.before + row.after;
    row.rss_per_session = static_cast<double>(row.rss_full - row.rss_empty) / sessions;
    // Against the same luod binary with no session, before the update.
    row.rss_per_session_after = (static_cast<double>(rss_after) - static_cast<double>(row.rss_empty)) / sessions;
    luod.stop();
    std::string log = luod.log();
    for (std::size_t at = log.find("start-up: "); at != std::string::npos; at = log.find("start-up: ", at + 1))
        row.startup = log.substr(at, log.find('\n', at) - at);
    row.steps = parse_startup(row.startup);
    const std::string synced = "sync(2) before the reboot took ";
    if (std::size_t at = log.rfind(synced); at != std::string::npos)
        row.sync = std::stod(log.substr(at + synced.size())) / 1000;
    return row;
}

// Files per second through luod's PreserveFds (16 per call, the system bus's fd limit), and
// luod's resident memory per file preserved.
std::pair<double, double> through_luod(int files)
{
    ModelProcess model({"7.2"});
    SystemBus bus;
    LuodOptions options;
    options.config = "[Sessions]\nMaxFilesPerSession=100000\nMaxFilesPerUser=1000000\n[Daemon]\nManifestSizeMiB=64\n";
    LuodProcess luod(model, bus, options);
    Client client = Client::connect(bus.address());  // what a service would use
    std::vector<UniqueFd> fds;
    for (int i = 0; i < files; ++i)
        fds.push_back(make_memfd("bench", "x"));
    ClientSession session;
    std::uint64_t rss_before = 0;
    auto start = Clock::now();
    for (int i = 0; i < files;) {
        if (i % kFilesPerSession == 0) {
            session = client.create_session("bench-" + std::to_string(i / kFilesPerSession));
            if (i == 0) {
                rss_before = rss_bytes(luod.pid());
                start = Clock::now();
            }
        }
        std::vector<std::pair<int, std::string>> batch;
        for (int k = 0; k < 16 && i < files && (batch.empty() || i % kFilesPerSession != 0); ++k, ++i)
            batch.emplace_back(fds[static_cast<std::size_t>(i)].get(), "f" + std::to_string(i));
        session.preserve(batch);
    }
    double rate = files / std::chrono::duration<double>(Clock::now() - start).count();
    double per_file = static_cast<double>(rss_bytes(luod.pid()) - rss_before) / files;
    return {rate, per_file};
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<int> counts{1, 1000, 5000};
    int files = 4000;
    int rounds = 3;
    std::string csv_path;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--sessions") == 0) {
            counts.clear();
            std::stringstream list(argv[i + 1]);
            for (std::string n; std::getline(list, n, ',');)
                counts.push_back(std::stoi(n));
        } else if (std::strcmp(argv[i], "--files") == 0) {
            files = std::stoi(argv[i + 1]);
        } else if (std::strcmp(argv[i], "--rounds") == 0) {
            rounds = std::max(1, std::stoi(argv[i + 1]));
        } else if (std::strcmp(argv[i], "--csv") == 0) {
            csv_path = argv[i + 1];
        }
    }
    raise_fd_limit(16384);
    try {
        // The reboot path calls sync(): the first round also flushes whatever the machine had
        // dirty (the build, say). That round is not reported.
        (void)measure(1);
        std::printf("(the barrier had no inhibitors; 'before the reboot' runs from PrepareForUpdate(true) and includes "
                    "sync(2); 'from the call' from the Update() call, checks and the first sync(2) included; "
                    "times in ms)\n");
        // Round r of every count, then round r + 1: a busy spell of the shared machine falls on
        // every count alike, not on one count's rounds.
        std::vector<std::vector<Row>> tries(counts.size());
        for (int r = 0; r < rounds; ++r)
            for (std::size_t i = 0; i < counts.size(); ++i)
                tries[i].push_back(measure(counts[i]));
        std::vector<Row> rows;
        for (std::size_t i = 0; i < counts.size(); ++i) {
            int n = counts[i];
            std::vector<Row>& all = tries[i];
            std::vector<double> shares;
            for (const Row& t : all)
                shares.push_back(t.share);
            // The round of median share: one busy moment of the shared machine moves a single
            // round's figure by tens of milliseconds.
            std::vector<Row> sorted = all;
            std::sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) { return a.share < b.share; });
            Row row = sorted[sorted.size() / 2];
            row.share_min = sorted.front().share;
            row.share_max = sorted.back().share;
            row.ratio = rows.empty() ? 1.0 : row.share / rows.front().share;
            rows.push_back(row);
            std::printf("%5d sessions: before the reboot %6.1f (luod to reboot(2) %6.1f; from the call %6.1f) | "
                        "model kexec %7.1f | after the boot %6.1f | luod's share %6.1f = %4.2fx the first | RSS per "
                        "session %5.0f B (after the boot %5.0f B) | load %.2f\n",
                        n, row.before, row.luod_before, row.from_call, row.kernel, row.after, row.share, row.ratio,
                        row.rss_per_session, row.rss_per_session_after, row.load);
            std::printf("       rounds in order (share = before + after, load):");
            for (const Row& t : all)
                std::printf(" %.1f = %.1f + %.1f (%.2f);", t.share, t.before, t.after, t.load);
            std::printf(" median %.1f, from %.1f to %.1f\n", row.share, row.share_min, row.share_max);
            std::printf("       before the reboot %.1f: luod to reboot(2) %.1f, its sync(2) %.1f (the machine's dirty "
                        "data), the rest %.1f (the call reaching the model)\n",
                        row.before, row.luod_before, row.sync, std::max(0.0, row.before - row.luod_before - row.sync));
            std::printf("       after the boot %.1f: luod on the CPU %.1f, waiting for a CPU %.1f, blocked %.1f (", row.after,
                        row.sum(&Step::cpu), row.sum(&Step::queued), row.blocked());
            for (std::size_t k = 0; k < row.steps.size(); ++k)
                std::printf("%s%s %.1f", k ? ", " : "", row.steps[k].name.c_str(), row.steps[k].blocked());
            std::printf("); page faults %ld; meanwhile the model used %.1f ms of CPU, dbus-daemon %.1f\n",
                        row.faults(), row.model_cpu, row.bus_cpu);
            std::printf("       %s\n", row.startup.c_str());
        }
        if (rows.size() > 1)
            for (std::size_t i = 1; i < rows.size(); ++i)
                std::printf("luod's share at %d sessions: %.2fx its share at %d (medians of %d interleaved rounds: %.1f "
                            "and %.1f ms)\n",
                            rows[i].sessions, rows[i].ratio, rows[0].sessions, rounds, rows[i].share, rows[0].share);
        double direct_rate = luo::bench::direct_preserve_rate(files);
        double load = load_average();
        auto [luod_rate, per_file] = through_luod(files);
        std::printf("%d files: libluo directly %8.0f files/s | luod PreserveFds (16 per call) %8.0f files/s "
                    "(%.0f%% of direct) | luod RSS per file %.0f B | load %.2f\n",
                    files, direct_rate, luod_rate, 100 * luod_rate / direct_rate, per_file, load);
        if (!csv_path.empty()) {
            std::ofstream csv(csv_path);
            csv << "sessions,before_ms,luod_before_ms,model_kexec_ms,after_ms,luod_share_ms,ratio_to_first,"
                   "rss_per_session_bytes,rss_per_session_after_bytes,load1,from_call_ms,share_min_ms,share_max_ms,"
                   "after_cpu_ms,after_queued_ms,after_blocked_ms,sync_ms\n";
            for (const Row& r : rows)
                csv << r.sessions << ',' << r.before << ',' << r.luod_before << ',' << r.kernel << ',' << r.after << ','
                    << r.share << ',' << r.ratio << ',' << r.rss_per_session << ',' << r.rss_per_session_after << ','
                    << r.load << ',' << r.from_call << ',' << r.share_min << ',' << r.share_max << ','
                    << r.sum(&Step::cpu) << ',' << r.sum(&Step::queued) << ',' << r.blocked() << ',' << r.sync
                    << '\n';
            csv << "# files," << files << ",direct_files_per_s," << direct_rate << ",luod_files_per_s," << luod_rate
                << ",rss_per_file_bytes," << per_file << ",load1," << load << '\n';
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-blackout: %s\n", e.what());
        return 1;
    }
    return 0;
}
