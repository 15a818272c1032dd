// SPDX-License-Identifier: Apache-2.0
// The generative adversarial test of issue 9: hostile clients of several unprivileged uids
// run random sequences of everything a local user can do to luod (every method and property,
// on their own sessions, on each other's and on root's, with bad fds, bad strings and
// inhibitors held and dropped), checking each answer, while root keeps working and runs
// forced dry-run updates. Then the invariants: root was never refused, no update wedged, no
// hostile answer told anything of another owner's session or reached into it, luod holds no
// fd more than it should, and root's data comes across a real update intact.
//
// Deterministic: the sequence of each client follows from the seed (printed; set
// LUOD_ADVERSARY_SEED to replay one), and the run is bounded by a count of operations.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "luo_catch.h"
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include "luo-dbus/sdbus_compat.h"
#include <set>
#include <thread>

#include "fixture.h"
#include "luo/dbus_api.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
using nlohmann::json;
using Options = std::map<std::string, sdbus::Variant>;

namespace {

constexpr int kHostileUids = 5;
constexpr int kOperationsPerClient = 600;
constexpr const char* kUnknownObject = "org.freedesktop.DBus.Error.UnknownObject";

// Root's sessions, which must come through everything untouched.
const std::vector<std::string> kRootSessions{"vm-prod", "vm-db", "cache"};
std::string root_content(const std::string& session) { return "root's data of " + session; }

std::uint32_t seed_of_run()
{
    const char* env = std::getenv("LUOD_ADVERSARY_SEED");
    return env ? static_cast<std::uint32_t>(std::strtoul(env, nullptr, 10)) : 20261206u;
}

// The child paths listed by Introspect of `path`.
std::vector<std::string> children_of(LuodClient& c, const std::string& path, std::string* xml_out = nullptr)
{
    std::string xml;
    auto node = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, path);
    node->callMethod("Introspect").onInterface("org.freedesktop.DBus.Introspectable").storeResultsTo(xml);
    std::vector<std::string> out;
    for (std::size_t at = xml.find("<node name=\""); at != std::string::npos; at = xml.find("<node name=\"", at + 1)) {
        std::size_t begin = at + 12, end = xml.find('"', begin);
        out.push_back(path + "/" + xml.substr(begin, end - begin));
    }
    if (xml_out)
        *xml_out = xml;
    return out;
}

// A string a hostile user might pass anywhere: empty, huge, control characters, valid.
std::string nasty_string(std::mt19937& rng)
{
    switch (rng() % 5) {
    case 0:
        return "";
    case 1:
        return std::string(1 + rng() % (64 << 10), static_cast<char>(1 + rng() % 31));
    case 2:
        return "x\n\x1b[31mforged\rline";
    case 3:
        return std::string(256 + rng() % 4096, 'n');
    default:
        return "\xff\xfe not utf-8";
    }
}

// One hostile client: `operations` random operations, each answer checked. Returns the
// violations it saw ("" when none).
std::string hostile_client(const std::string& bus, int index, uid_t uid, std::uint32_t seed, int operations,
                           const std::vector<std::string>& others_names, const std::vector<std::string>& leaked_paths)
{
    std::mt19937 rng(seed);
    auto roll = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    LuodClient c(bus);
    std::set<std::string> mine;
    std::vector<UniqueFd> inhibitors;
    std::string violations;
    auto violation = [&](int op, const std::string& what) {
        if (violations.size() < 8000)
            violations += "op " + std::to_string(op) + ": " + what + "; ";
    };
    auto expect_error = [&](int op, const std::string& what, const std::string& got, const std::set<std::string>& allowed) {
        if (!allowed.count(got))
            violation(op, what + " answered '" + got + "'");
    };
    auto any_name = [&]() -> std::string {
        std::size_t pick = roll(3);
        if (pick == 0 || mine.empty())
            return others_names[roll(others_names.size())];
        if (pick == 1)
            return "u" + std::to_string(index) + "-" + std::to_string(roll(40));
        return *std::next(mine.begin(), static_cast<std::ptrdiff_t>(roll(mine.size())));
    };
    auto session_proxy = [&](const std::string& path) { return luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, path); };

    for (int op = 0; op < operations; ++op) {
        switch (roll(16)) {
        case 0: {  // a session of its own
            std::string name = "u" + std::to_string(index) + "-" + std::to_string(roll(40));
            std::string e = dbus_error_of([&] { c.create_session(name); });
            if (e.empty())
                mine.insert(name);
            else if (mine.count(name))
                expect_error(op, "CreateSession of its own existing " + name, e, {err::kSessionExists});
            else
                expect_error(op, "CreateSession " + name, e, {err::kQuotaExceeded, err::kLimitsExceeded});
            break;
        }
        case 1: {  // GetSession: its own, or nothing at all
            std::string name = any_name();
            std::string e = dbus_error_of([&] { c.get_session(name); });
            if (mine.count(name) ? !e.empty() : e != err::kNoSuchSession)
                violation(op, "GetSession " + name + (mine.count(name) ? " (its own)" : " (not its own)") +
                                  " answered '" + e + "'");
            break;
        }
        case 2: {  // RetrieveSession of anything: nothing came across for it
            std::string name = any_name();
            expect_error(op, "RetrieveSession " + name, dbus_error_of([&] {
                             sdbus::ObjectPath p;
                             c.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface)
                                 .withArguments(name).storeResultsTo(p);
                         }),
                         {err::kNoSuchSession});
            break;
        }
        case 3:
        case 4: {  // preserve a memfd of its own into a session of its own (or another's by name)
            std::string name = any_name();
            UniqueFd m = make_memfd("hostile", "hostile data");
            std::string label = roll(4) == 0 ? nasty_string(rng) : "f" + std::to_string(op);
            std::string e = dbus_error_of([&] { c.preserve(name, m.get(), label); });
            if (!mine.count(name))
                expect_error(op, "PreserveFd into " + name, e, {err::kNoSuchSession});
            else
                expect_error(op, "PreserveFd into its own " + name, e,
                             {"", err::kInvalidArgs, err::kQuotaExceeded, err::kLimitsExceeded, err::kLabelExists});
            break;
        }
        case 5: {  // fds luod must not keep: read-only, O_PATH, a file of root's
            if (mine.empty())
                break;
            std::string name = *mine.begin();
            UniqueFd m = make_memfd("hostile", "x");
            std::string proc = "/proc/self/fd/" + std::to_string(m.get());
            UniqueFd bad;
            switch (roll(3)) {
            case 0:
                bad = UniqueFd(::open(proc.c_str(), O_RDONLY | O_CLOEXEC));
                break;
            case 1:
                bad = UniqueFd(::open(proc.c_str(), O_PATH | O_CLOEXEC));
                break;
            default:
                bad = UniqueFd(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
                break;
            }
            if (!bad.valid())
                break;
            std::string e = dbus_error_of([&] { c.preserve(name, bad.get(), "bad" + std::to_string(op)); });
            if (e.empty())
                violation(op, "a read-only, O_PATH or root's fd was preserved");
            break;
        }
        case 6: {  // the object tree: the sessions' node is root's, every object not its own is absent
            std::string xml;
            expect_error(op, "Introspect of the sessions' node",
                         dbus_error_of([&] { children_of(c, dbus::kSessionPathPrefix, &xml); }), {err::kAccessDenied});
            for (const std::string& n : others_names)
                if (xml.find(n) != std::string::npos)
                    violation(op, "Introspect names " + n);
            // Root's paths, as if they had leaked, and its own.
            std::vector<std::string> paths(leaked_paths);
            for (const std::string& n : mine) {
                std::string path;
                if (dbus_error_of([&] { path = c.get_session(n); }).empty())
                    paths.push_back(path);
            }
            std::string path = paths[roll(paths.size())];
            auto proxy = session_proxy(path);
            std::string name;
            std::string got = dbus_error_of([&] { name = proxy->getProperty("Name").onInterface(dbus::kSessionInterface).get<std::string>(); });
            if (got.empty()) {
                if (!mine.count(name))
                    violation(op, "read the Name of another's session: " + name);
                std::uint32_t owner = ~0u;
                (void)dbus_error_of([&] { owner = proxy->getProperty("OwnerUID").onInterface(dbus::kSessionInterface).get<std::uint32_t>(); });
                if (owner != uid)
                    violation(op, "its own session " + name + " says owner " + std::to_string(owner));
                break;
            }
            expect_error(op, "Name of a session not its own", got, {kUnknownObject});
            for (const char* property : {"OwnerUID", "State", "FileCount", "Files", "Kind", "OwnerUnit"})
                expect_error(op, std::string(property) + " of a session not its own",
                             dbus_error_of([&] { proxy->getProperty(property).onInterface(dbus::kSessionInterface); }),
                             {kUnknownObject});
            expect_error(op, "GetAll of a session not its own", dbus_error_of([&] {
                             std::map<std::string, sdbus::Variant> all;
                             proxy->callMethod("GetAll").onInterface("org.freedesktop.DBus.Properties")
                                 .withArguments(std::string(dbus::kSessionInterface)).storeResultsTo(all);
                         }),
                         {kUnknownObject});
            switch (roll(4)) {
            case 0:
                expect_error(op, "Close of a session not its own",
                             dbus_error_of([&] { proxy->callMethod("Close").onInterface(dbus::kSessionInterface); }),
                             {kUnknownObject});
                break;
            case 1:
                expect_error(op, "AcquireFd of a session not its own", dbus_error_of([&] {
                                 sdbus::UnixFd fd;
                                 proxy->callMethod("AcquireFd").onInterface(dbus::kSessionInterface).storeResultsTo(fd);
                             }),
                             {kUnknownObject});
                break;
            case 2:
                expect_error(op, "RetrieveFd of a session not its own", dbus_error_of([&] {
                                 sdbus::UnixFd fd;
                                 proxy->callMethod("RetrieveFd").onInterface(dbus::kSessionInterface)
                                     .withArguments(std::string("data")).storeResultsTo(fd);
                             }),
                             {kUnknownObject});
                break;
            default: {
                UniqueFd m = make_memfd("intruder", "x");
                expect_error(op, "PreserveFd into a session not its own", dbus_error_of([&] {
                                 std::uint64_t token;
                                 proxy->callMethod("PreserveFd").onInterface(dbus::kSessionInterface)
                                     .withArguments(sdbus::UnixFd(m.get()), std::string("intruder")).storeResultsTo(token);
                             }),
                             {kUnknownObject});
            }
            }
            break;
        }
        case 7: {  // delay inhibitors: taken freely, held for a while, dropped
            UniqueFd fd;
            std::string e = dbus_error_of([&] {
                sdbus::UnixFd got;
                c.manager().callMethod("Inhibit").onInterface(dbus::kManagerInterface)
                    .withArguments(std::string("update"), roll(3) == 0 ? nasty_string(rng) : std::string("hostile"),
                                   std::string("holding"), std::string("delay"))
                    .storeResultsTo(got);
                fd = UniqueFd(got.release());
            });
            expect_error(op, "Inhibit delay", e, {"", err::kInvalidArgs, err::kLimitsExceeded});
            if (fd.valid())
                inhibitors.push_back(std::move(fd));
            break;
        }
        case 8:
            if (!inhibitors.empty())
                inhibitors.erase(inhibitors.begin() + static_cast<std::ptrdiff_t>(roll(inhibitors.size())));
            expect_error(op, "Inhibit block", dbus_error_of([&] {
                             sdbus::UnixFd got;
                             c.manager().callMethod("Inhibit").onInterface(dbus::kManagerInterface)
                                 .withArguments(std::string("update"), std::string("h"), std::string("h"), std::string("block"))
                                 .storeResultsTo(got);
                         }),
                         {err::kAccessDenied});
            break;
        case 9: {  // Check tells nothing of others' sessions
            std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
            std::string e = dbus_error_of([&] {
                c.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
            });
            if (!e.empty())
                violation(op, "Check answered '" + e + "'");
            for (const auto& chk : checks)
                for (const std::string& n : others_names)
                    if (std::get<2>(chk).find(n) != std::string::npos)
                        violation(op, "Check names " + n + ": " + std::get<2>(chk));
            break;
        }
        case 10: {  // ListSessions and Sessions: exactly its own
            std::vector<std::string> names;
            std::string e = dbus_error_of([&] { names = c.list_session_names(); });
            if (!e.empty() || std::set<std::string>(names.begin(), names.end()) != mine)
                violation(op, "ListSessions does not list exactly its own sessions (" + e + ")");
            std::uint32_t count = 0;
            (void)dbus_error_of([&] { count = c.manager_u32("Sessions"); });
            if (count != mine.size())
                violation(op, "Sessions says " + std::to_string(count) + ", it owns " + std::to_string(mine.size()));
            break;
        }
        case 11: {  // root's members
            const char* member = roll(2) ? "Cancel" : "UnloadKernel";
            expect_error(op, member, dbus_error_of([&] { c.call_manager(member); }), {err::kAccessDenied});
            expect_error(op, "Update", dbus_error_of([&] {
                             c.manager().callMethod("Update").onInterface(dbus::kManagerInterface)
                                 .withArguments(Options{{"Force", sdbus::Variant(true)}});
                         }),
                         {err::kAccessDenied});
            break;
        }
        case 12: {  // strings of any kind where names go
            std::string s = nasty_string(rng);
            std::string e = dbus_error_of([&] { c.create_session(s); });
            if (e.empty())
                violation(op, "CreateSession accepted a nasty name");
            (void)dbus_error_of([&] { c.get_session(s); });
            break;
        }
        case 13: {  // close one of its own
            if (mine.empty())
                break;
            std::string name = *std::next(mine.begin(), static_cast<std::ptrdiff_t>(roll(mine.size())));
            std::string e = dbus_error_of([&] { c.close(name); });
            if (!e.empty())
                violation(op, "Close of its own " + name + " answered '" + e + "'");
            mine.erase(name);
            break;
        }
        case 14: {  // the kernel session fd of its own, dropped at once
            if (mine.empty())
                break;
            std::string name = *mine.begin();
            UniqueFd fd;
            // An outgoing session's kernel fd is root's alone (files preserved through it would
            // escape the quotas).
            expect_error(op, "AcquireFd of its own outgoing session", dbus_error_of([&] { fd = c.acquire_fd(name); }),
                         {err::kAccessDenied});
            break;
        }
        default: {  // Files of its own: only what it preserved
            if (mine.empty())
                break;
            std::string name = *mine.begin();
            std::string e = dbus_error_of([&] {
                for (const auto& [label, token, type] : c.files(name))
                    if (type != "memfd")
                        violation(op, "its session holds a " + type);
            });
            if (!e.empty())
                violation(op, "Files of its own answered '" + e + "'");
        }
        }
    }
    return violations;
}

json last_update(Luod& t) { return json::parse(t.client.last_update()); }

}  // namespace

TEST_CASE("hostile clients of 5 uids at random while root updates: root never refused, no wedge, leak, loss or peeking",
          "[luod][hostile][adversary]")
{
    const std::uint32_t seed = seed_of_run();
    std::fprintf(stderr, "adversary: seed %u (LUOD_ADVERSARY_SEED=%u replays this run)\n", seed, seed);
    raise_fd_limit(16384);
    LuodOptions lo;
    lo.config = "[Sessions]\nMaxSessionsPerUser=6\n[Update]\nUnclaimedTimeoutSec=0\n";
    Luod t(lo, machine());
    t.client.load_kernel(t.kernel_image());

    // Root's sessions and data, and the fds luod holds for them.
    std::vector<UniqueFd> root_memfds;
    std::vector<std::string> root_paths;
    for (const std::string& name : kRootSessions) {
        root_paths.push_back(t.client.create_session(name));
        root_memfds.push_back(make_memfd("root", root_content(name)));
        t.client.preserve(name, root_memfds.back().get(), "data");
    }
    std::size_t luod_fds_before = t.settled_fd_count();

    std::vector<uid_t> uids = unprivileged_uids(kHostileUids);
    REQUIRE(uids.size() == static_cast<std::size_t>(kHostileUids));
    // Every name a client may try that is not its own: root's, and the other clients'.
    std::vector<std::pair<pid_t, int>> clients;
    for (int i = 0; i < kHostileUids; ++i) {
        std::vector<std::string> others(kRootSessions);
        others.emplace_back("root-work");
        for (int j = 0; j < kHostileUids; ++j)
            if (j != i)
                for (int k = 0; k < 40; ++k)
                    others.push_back("u" + std::to_string(j) + "-" + std::to_string(k));
        std::uint32_t client_seed = seed * 31u + static_cast<std::uint32_t>(i);
        uid_t uid = uids[static_cast<std::size_t>(i)];
        pid_t pid = spawn([&, i, uid, client_seed, others] {
            // Not the test's copies of luod's fds (the stand-in fd store).
            ::close_range(3, ~0u, 0);
            return run_as_uid(uid, [&] {
                std::string v = hostile_client(t.bus.address(), i, uid, client_seed, kOperationsPerClient, others,
                                               root_paths);
                if (!v.empty())
                    std::fprintf(stderr, "hostile client %d (uid %u): %s\n", i, uid, v.c_str());
                return v.empty() ? 0 : 1;
            });
        });
        clients.emplace_back(pid, i);
    }

    // Root meanwhile: works in a session of its own and runs forced dry-run updates, until
    // every client is done (each runs a fixed number of operations).
    int root_operations = 0, dry_runs = 0;
    std::string root_refusals;
    std::set<pid_t> running;
    for (const auto& [pid, i] : clients)
        running.insert(pid);
    while (!running.empty()) {
        std::string e = dbus_error_of([&] { t.client.create_session("root-work"); });
        UniqueFd m = make_memfd("root", "work");
        if (e.empty())
            e = dbus_error_of([&] { t.client.preserve("root-work", m.get(), "work"); });
        if (e.empty())
            e = dbus_error_of([&] { t.client.close("root-work"); });
        if (!e.empty())
            root_refusals += "work: " + e + "; ";
        std::uint64_t before = last_update(t).value("phases", json::object()).value("update_requested", std::uint64_t{0});
        e = dbus_error_of([&] {
            t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface)
                .withArguments(Options{{"DryRun", sdbus::Variant(true)},
                                       {"Force", sdbus::Variant(true)},
                                       {"DelayTimeoutUSec", sdbus::Variant(std::uint64_t{500000})}});
        });
        if (!e.empty()) {
            root_refusals += "dry run: " + e + "; ";
        } else {
            // No wedge: every dry run ends, back in "loaded", as a dry run.
            for (int i = 0; i < 12000; ++i) {
                json r = last_update(t);
                if (r.value("phases", json::object()).value("update_requested", std::uint64_t{0}) != before &&
                    t.client.manager_string("State") == "loaded")
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            json r = last_update(t);
            if (r.value("result", "") != "dry-run" || t.client.manager_string("State") != "loaded")
                root_refusals += "dry run ended " + r.dump() + " in state " + t.client.manager_string("State") + "; ";
            ++dry_runs;
        }
        root_operations += 4;
        for (auto it = running.begin(); it != running.end();) {
            int status;
            if (::waitpid(*it, &status, WNOHANG) == *it) {
                CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
                it = running.erase(it);
            } else {
                ++it;
            }
        }
    }
    const int hostile_operations = kHostileUids * kOperationsPerClient;
    std::fprintf(stderr,
                 "adversary: seed %u, %d hostile operations by %d uids, %d root operations, %d forced dry-run updates\n",
                 seed, hostile_operations, kHostileUids, root_operations, dry_runs);
    CHECK(root_refusals == "");
    CHECK(dry_runs > 0);
    CHECK(t.luod.alive());
    CHECK(t.client.manager_string("State") == "loaded");

    // No fd leak: once the clients' sessions are closed (root may), luod holds what it held.
    CHECK(t.close_sessions_except(kRootSessions, luod_fds_before) == luod_fds_before);

    // No loss: root's sessions cross a real update with their data.
    for (const std::string& name : kRootSessions) {
        INFO(name);
        REQUIRE(t.client.files(name).size() == 1);
    }
    std::string boot = t.model.boot_id();
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(Options{});
    t.next_boot(boot);
    for (const std::string& name : kRootSessions) {
        INFO(name);
        sdbus::ObjectPath path;
        t.client.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(name).storeResultsTo(path);
        UniqueFd fd = t.client.retrieve_fd(name, "data");
        CHECK(read_all(fd.get()) == root_content(name));
        t.client.finish(name);
    }
    CHECK(t.client.manager_string("State") == "idle");
}
