// SPDX-License-Identifier: Apache-2.0
// Many clients at once: processes inside the simulated machine create sessions, preserve
// files, close sessions and kill themselves at random (and are replaced), while the test runs
// dry-run updates through the barrier and finally a real update that ends them all mid-call.
// Then the invariants: luod and the kernel agree on every session, every file that came across
// holds what its client wrote (or was never preserved: its client died preserving it), and
// neither luod nor the model holds an fd more than it should.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "luo_catch.h"
#include <nlohmann/json.hpp>
#include <random>
#include <sdbus-c++/sdbus-c++.h>
#include <set>
#include <thread>

#include "eventually.h"
#include "fixture.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/model_control.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
using nlohmann::json;
using Options = std::map<std::string, sdbus::Variant>;

namespace {

constexpr int kClients = 8;
constexpr auto kChurn = std::chrono::seconds(4);

std::string content_of(const std::string& session, const std::string& label) { return session + "/" + label; }

// One client's life: random operations on its own sessions until it kills itself or is
// killed. Session names carry the client's generation, so a replacement never reuses them.
int client_main(const std::string& bus, int id, std::uint32_t seed)
{
    // A forked child inherits the test's fds, among them the stand-in service manager's copies
    // of luod's session fds: holding those would keep sessions luod closed alive in the kernel.
    ::close_range(3, ~0u, 0);
    std::mt19937 rng(seed);
    auto roll = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint32_t>(n)); };
    Client c = Client::connect(bus);
    std::vector<ClientSession> mine;
    for (int op = 0;; ++op) {
        int what = roll(100);
        if (what < 2)
            ::kill(::getpid(), SIGKILL);  // a crash, mid-life
        if (mine.empty() || what < 30) {
            mine.push_back(c.create_session("c" + std::to_string(id) + "-" + std::to_string(seed) + "-" +
                                            std::to_string(op)));
        } else if (what < 85) {
            ClientSession& s = mine[static_cast<std::size_t>(roll(static_cast<int>(mine.size())))];
            std::vector<UniqueFd> memfds;
            std::vector<std::pair<int, std::string>> batch;
            int n = 1 + roll(3);
            for (int k = 0; k < n; ++k) {
                std::string label = "f" + std::to_string(op) + "-" + std::to_string(k);
                memfds.push_back(make_memfd("data", content_of(s.name(), label)));
                batch.emplace_back(memfds.back().get(), label);
            }
            s.preserve(batch);
        } else {
            std::size_t victim = static_cast<std::size_t>(roll(static_cast<int>(mine.size())));
            mine[victim].close();
            mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(victim));
        }
    }
}

std::map<std::string, std::set<std::uint64_t>> kernel_view(const ModelProcess& model, const char* kind)
{
    auto status = json::parse(model::status_json(model.root()));
    std::map<std::string, std::set<std::uint64_t>> out;
    for (const auto& s : status[kind]) {
        if (s["name"] == "luod")
            continue;
        auto& tokens = out[s["name"]];
        for (const auto& f : s["files"])
            tokens.insert(f["token"].get<std::uint64_t>());
    }
    return out;
}

}  // namespace

TEST_CASE("many clients creating, preserving, closing and crashing while updates run: luod and the kernel agree and "
          "nothing leaks",
          "[luod][concurrency]")
{
    raise_fd_limit(16384);
    LuodOptions lo;
    lo.config = "[Sessions]\nMaxSessionsPerUser=100000\n[Daemon]\nManifestSizeMiB=32\n[Update]\nUnclaimedTimeoutSec=0\n";
    Luod t(lo, machine());
    // The manifest's log segments are luod's fds and files of luod's session in the kernel; how
    // many there are after the churn depends on how much was written (a rewrite into the spare
    // chain keeps both chains), so they are counted apart from the rest.
    auto manifest_segments = [&] { return count_fds_to(t.luod.pid(), "/memfd:luod-manifest-log"); };
    std::size_t segments_idle = manifest_segments();
    std::size_t luod_fds_idle = t.settled_fd_count() - segments_idle;
    std::size_t model_fds_idle = json::parse(model::status_json(t.model.root()))["open_fds"].get<std::size_t>() - segments_idle;

    std::map<pid_t, int> clients;  // pid -> client id
    std::uint32_t generation = 1;
    int crashes = 0, dry_runs = 0;
    auto launch = [&](int id) {
        std::uint32_t seed = generation++;
        pid_t pid = spawn([&, id, seed] { return client_main(t.bus.address(), id, seed); });
        t.model.enter_machine(pid);
        clients[pid] = id;
    };
    for (int id = 0; id < kClients; ++id)
        launch(id);

    t.client.load_kernel(t.kernel_image());
    auto& mgr = t.client.manager();
    auto until = std::chrono::steady_clock::now() + kChurn;
    while (std::chrono::steady_clock::now() < until) {
        // Replace the clients that crashed.
        for (auto it = clients.begin(); it != clients.end();) {
            int status;
            if (::waitpid(it->first, &status, WNOHANG) == it->first) {
                ++crashes;
                int id = it->second;
                it = clients.erase(it);
                launch(id);
            } else {
                ++it;
            }
        }
        // The barrier path while they work.
        std::string e = dbus_error_of([&] {
            mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(Options{{"DryRun", sdbus::Variant(true)}});
        });
        if (e.empty())
            ++dry_runs;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    // Before the update: luod and the kernel agree, and luod holds one fd per session.
    std::size_t sessions_before = t.client.manager_u32("Sessions");
    auto kernel_before = kernel_view(t.model, "outgoing");
    INFO("sessions " << sessions_before << ", kernel " << kernel_before.size());

    // The real update ends every client wherever it is (once the last dry run is done).
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "loaded"; }));
    std::string boot = t.model.boot_id();
    mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(Options{{"Force", sdbus::Variant(true)}});
    t.model.wait_for_boot(boot);
    for (auto& [pid, id] : clients)
        wait_exit(pid);
    t.luod.wait_exit();
    t.luod.notify().replace_store();
    t.luod.start();

    // luod offers exactly what the kernel carried.
    auto carried = kernel_view(t.model, "incoming");
    std::vector<std::string> names = t.client.list_session_names();
    CHECK(std::set<std::string>(names.begin(), names.end()).size() == carried.size());
    CHECK(t.client.manager_u32("IncomingSessions") == carried.size());
    std::size_t files = 0, never_preserved = 0;
    for (const auto& name : names) {
        INFO(name);
        REQUIRE(carried.count(name) == 1);
        sdbus::ObjectPath path;
        mgr.callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(name).storeResultsTo(path);
        for (const auto& [label, token, type] : t.client.files(name)) {
            UniqueFd fd;
            std::string e = dbus_error_of([&] { fd = t.client.retrieve_fd(name, label); });
            if (e == err::kNoSuchFile) {
                // Its client died preserving it: written ahead, never in the kernel.
                CHECK(carried[name].count(token) == 0);
                ++never_preserved;
                continue;
            }
            REQUIRE(e.empty());
            CHECK(carried[name].count(token) == 1);
            CHECK(read_all(fd.get()) == content_of(name, label));
            ++files;
        }
        t.client.finish(name);
    }
    // A client can die inside at most one preserve.
    CHECK(never_preserved <= static_cast<std::size_t>(kClients + crashes));
    CHECK(t.client.manager_string("State") == "idle");
    std::size_t segments = manifest_segments();
    INFO("manifest segments: " << segments_idle << " idle, " << segments << " after the update");
    // The log and at most one spare chain, each one segment: 32 MiB hold every record here.
    CHECK(segments <= 2);
    CHECK(t.settled_fd_count() - segments == luod_fds_idle);
    CHECK(json::parse(model::status_json(t.model.root()))["open_fds"].get<std::size_t>() - segments == model_fds_idle);
    CHECK(kernel_view(t.model, "incoming").empty());

    WARN("concurrency: " << kClients << " clients at a time, " << crashes << " crashes, " << dry_runs
                         << " dry-run updates during the churn; " << sessions_before << " sessions and " << files
                         << " files came across a real update (" << never_preserved
                         << " files were cut off while being preserved)");
    CHECK(sessions_before > 0);
    CHECK(files > 0);
}
