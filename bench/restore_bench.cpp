// SPDX-License-Identifier: Apache-2.0
// bench-restore: what luod spends per session reading an update's sessions back from the old
// manifest after a kexec of the kernel model (issue 12): a glance (a session's owner and files,
// read for a listing) and a restore (its record read, written into this boot's manifest). For
// each count of sessions and files per session, two updates of as many sessions with that many
// small memfds each:
//   glance   the next luod with the background restore held (LUOD_FAULT_HOLD=restore-batch),
//            then a root ListSessions, which reads every session's owner first;
//   restore  the next luod restoring every session in the background;
//   report   in the glance run, writing the update's report once every owner is read (one
//            turn of the event loop: an outcome per session).
// Figures are luod's own debug lines (the time spent in the steps, wall and on luod's CPU),
// divided by the sessions. The model's fds are limited by the host (RLIMIT_NOFILE): sessions
// times files stays under about 8,000.
// With --systemd, systemd (a stand-in, 262) carries the sessions in luod's fd store across the
// kexec (the systemd strategy): a restore also moves each session's fd in the store.
// With --perf DIR, each next luod is profiled instead (perf record -g, into DIR), the restore
// held in both runs: the restore run restores every session by a Check call.
// Usage: bench-restore [--sessions N,...] [--files N,...] [--systemd] [--perf DIR]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <regex>
#include <sdbus-c++/sdbus-c++.h>
#include <sstream>
#include <string_view>
#include <thread>

#include "eventually.h"
#include "harness.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/model_control.h"
#include "luod_harness.h"

using namespace luo;
using namespace luo::test;

namespace {

std::vector<int> parse_list(const char* text)
{
    std::vector<int> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        out.push_back(std::stoi(item));
    return out;
}

struct Work {
    double wall_us = 0, cpu_us = 0;
    long sessions = 0;
    // The glance run only: writing the update's report, which follows the glances.
    double report_wall_us = 0, report_cpu_us = 0;
};

// luod's debug line that starts with `prefix` and ends "... <wall> us of work, <cpu> us on the CPU".
std::optional<Work> work_line(const std::string& log, const std::string& prefix)
{
    std::size_t at = log.rfind(prefix);
    if (at == std::string::npos)
        return std::nullopt;
    std::string line = log.substr(at, log.find('\n', at) - at);
    std::smatch m;
    static const std::regex kWork(R"((\d+) us of work.*?(\d+) us on the CPU)");
    if (!std::regex_search(line, m, kWork))
        return std::nullopt;
    Work w;
    w.wall_us = std::stod(m[1]);
    w.cpu_us = std::stod(m[2]);
    return w;
}

// perf record of `pid` into `file` until stopped.
class Profile {
public:
    Profile(pid_t pid, const std::string& file)
    {
        pid_ = ::fork();
        if (pid_ == 0) {
            std::string target = std::to_string(pid);
            ::execlp("perf", "perf", "record", "-q", "--call-graph", "dwarf,32768", "-F", "4000", "-o", file.c_str(),
                     "-p", target.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));  // attached
    }
    ~Profile()
    {
        ::kill(pid_, SIGINT);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    Profile(const Profile&) = delete;
    Profile& operator=(const Profile&) = delete;

private:
    pid_t pid_ = -1;
};

// An update of `sessions` sessions with `files` memfds each, then the next luod: glanced at
// (every owner read by a root ListSessions, the restore held) or restored in the background.
Work run(int sessions, int files, bool glance, bool systemd, const std::string& perf_dir)
{
    ModelOptions mo("7.2");
    mo.machine = true;
    ModelProcess model(mo);
    SystemBus bus;
    LuodOptions options;
    options.config = "[Sessions]\nMaxSessionsPerUser=100000\n[Daemon]\nManifestSizeMiB=8\n";
    if (systemd)
        options.config += "[Update]\nStrategy=systemd\n";
    LuodProcess luod(model, bus, options);
    LuodClient c(bus.address());
    std::optional<SystemdStandIn> pid1;
    if (systemd) {
        pid1.emplace(bus.address(), "262.1-1");
        if (!eventually([&] { return luod.log().find("systemd 262.1-1 on the bus") != std::string::npos; }))
            throw std::runtime_error("luod did not see systemd");
    }
    {
        Client client = Client::connect(bus.address());
        for (int i = 0; i < sessions; ++i) {
            char name[32];
            std::snprintf(name, sizeof name, "vm-%06d", i);
            ClientSession s = client.create_session(name);
            std::vector<UniqueFd> fds;
            std::vector<std::pair<int, std::string>> batch;
            for (int f = 0; f < files; ++f) {
                fds.push_back(make_memfd("ram", name));
                batch.emplace_back(fds.back().get(), "file-" + std::to_string(f));
                if (batch.size() == 16 || f + 1 == files) {
                    s.preserve(batch);
                    batch.clear();
                    fds.clear();
                }
            }
        }
    }
    auto image = model.root().parent_path() / (model.root().filename().native() + "-vmlinuz");
    model::write_kernel_image(image, "7.2");
    c.manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
        .withArguments(image.native(), std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
    std::string boot = model.boot_id();
    c.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    if (systemd) {
        (void)pid1->wait_for_kexec_request();
        pid1->kexec(model, luod);
    } else {
        model.wait_for_boot(boot);
        luod.wait_exit();
        luod.notify().replace_store();
    }
    if (glance || !perf_dir.empty())
        luod.options().env = {"LUOD_FAULT_HOLD=restore-batch"};
    luod.start();
    std::optional<Profile> profile;
    if (!perf_dir.empty()) {
        (void)c.manager_u32("IncomingSessions");  // walked
        profile.emplace(luod.pid(), perf_dir + "/" + (glance ? "glance" : "restore") + "-" + std::to_string(sessions) +
                                        "x" + std::to_string(files) + ".data");
    }
    const std::string glanced = "read the owners of the update's sessions not restored yet";
    const std::string restored = "sessions of the update in the background:";
    if (glance) {
        LuodClient after(bus.address());
        std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> list;
        after.manager().callMethod("ListSessions").onInterface(dbus::kManagerInterface).storeResultsTo(list);
        if (list.size() != static_cast<std::size_t>(sessions))
            throw std::runtime_error("ListSessions listed " + std::to_string(list.size()) + " sessions");
    }
    if (!perf_dir.empty()) {
        if (!glance) {
            std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
            c.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
        }
        profile.reset();
        luod.stop();
        return Work{0, 0, sessions};
    }
    std::optional<Work> w;
    (void)eventually([&] { return (w = work_line(luod.log(), glance ? glanced : restored)).has_value(); },
                     std::chrono::seconds(600), std::chrono::milliseconds(50));
    if (!w)
        throw std::runtime_error("luod did not log its " + std::string(glance ? "glances" : "restore"));
    if (glance) {
        std::optional<Work> report;
        (void)eventually([&] { return (report = work_line(luod.log(), "wrote the update's report")).has_value(); },
                         std::chrono::seconds(600), std::chrono::milliseconds(50));
        if (!report)
            throw std::runtime_error("luod did not log the update's report");
        w->report_wall_us = report->wall_us;
        w->report_cpu_us = report->cpu_us;
    }
    luod.stop();
    w->sessions = sessions;
    return *w;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<int> counts{1000, 5000};
    std::vector<int> files{1, 10};
    std::string perf_dir;
    bool systemd = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        bool valued = i + 1 < argc;
        if (arg == "--systemd")
            systemd = true;
        else if (valued && arg == "--sessions")
            counts = parse_list(argv[++i]);
        else if (valued && arg == "--files")
            files = parse_list(argv[++i]);
        else if (valued && arg == "--perf")
            perf_dir = argv[++i];
        else
            throw std::runtime_error("usage: bench-restore [--sessions N,...] [--files N,...] [--systemd] [--perf DIR]");
    }
    std::printf("%8s %6s | %12s %12s | %12s %12s | %12s %12s   (us per session: wall work, luod's CPU)\n",
                "sessions", "files", "glance wall", "glance cpu", "restore wall", "restore cpu", "report wall",
                "report cpu");
    for (int f : files)
        for (int n : counts) {
            try {
                Work g = run(n, f, true, systemd, perf_dir);
                Work r = run(n, f, false, systemd, perf_dir);
                std::printf("%8d %6d | %12.1f %12.1f | %12.1f %12.1f | %12.1f %12.1f\n", n, f, g.wall_us / n,
                            g.cpu_us / n, r.wall_us / n, r.cpu_us / n, g.report_wall_us / n, g.report_cpu_us / n);
            } catch (const std::exception& e) {
                std::printf("%8d %6d | failed: %s\n", n, f, e.what());
            }
            std::fflush(stdout);
        }
    return 0;
}
