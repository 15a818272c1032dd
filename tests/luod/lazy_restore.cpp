// SPDX-License-Identifier: Apache-2.0
// luod's start costs nothing per session (issue 12): Session objects are registered when their
// paths are handed out, not at start. Real dbus-daemon, the model as a process.
#include <signal.h>

#include "luo_catch.h"
#include <sdbus-c++/sdbus-c++.h>

#include <set>

#include "fixture.h"
#include "luo-dbus/sdbus_compat.h"
#include "luo/dbus_api.h"
#include "luo/version.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;

namespace {

// Loads a kernel for the model and starts an update: luod kexecs it. Returns the boot it
// leaves, for Luod::next_boot().
std::string load_and_update(Luod& t)
{
    std::string image = t.kernel_image();
    t.client.manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
        .withArguments(image, std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
    std::string boot = t.model.boot_id();
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface)
        .withArguments(std::map<std::string, sdbus::Variant>{});
    return boot;
}

// The children root's Introspect of the sessions' node names (a node with none is, to sd-bus,
// an unknown object).
std::set<std::string> session_children(Luod& t)
{
    std::string xml;
    auto node = luo::sdbus_compat::create_proxy(t.client.connection(), dbus::kBusName, dbus::kSessionPathPrefix);
    try {
        node->callMethod("Introspect").onInterface("org.freedesktop.DBus.Introspectable").storeResultsTo(xml);
    } catch (const sdbus::Error& e) {
        if (e.getName() != "org.freedesktop.DBus.Error.UnknownObject")
            throw;
    }
    std::set<std::string> out;
    for (std::size_t at = xml.find("<node name=\""); at != std::string::npos; at = xml.find("<node name=\"", at + 1)) {
        std::size_t begin = at + 12;
        out.insert(xml.substr(begin, xml.find('"', begin) - begin));
    }
    return out;
}

std::string leaf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

TEST_CASE("after a restart a session's object exists once its path is handed out, and answers as before",
          "[luod][restart][lazy]")
{
    Luod t;
    for (const char* name : {"vm-a", "vm-b", "vm-c"}) {
        t.client.create_session(name);
        UniqueFd m = make_memfd("m", name);
        t.client.preserve(name, m.get(), "ram");
    }
    CHECK(session_children(t).size() == 3);
    t.luod.stop();
    t.luod.start();
    LuodClient c(t.bus.address());
    CHECK(c.manager_u32("Sessions") == 3);  // counted without any object
    CHECK(session_children(t).empty());
    std::string b = c.get_session("vm-b");
    CHECK(session_children(t) == std::set<std::string>{leaf(b)});
    CHECK(c.get_session("vm-b") == b);  // the same path each time
    std::set<std::string> listed;
    std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>> sessions;
    c.manager().callMethod("ListSessions").onInterface(dbus::kManagerInterface).storeResultsTo(sessions);
    for (const auto& s : sessions)
        listed.insert(leaf(std::get<4>(s)));
    CHECK(listed.size() == 3);
    CHECK(listed.count(leaf(b)) == 1);
    CHECK(session_children(t) == listed);
    CHECK(c.session_property_string("vm-c", "State") == "open");
    CHECK(c.files("vm-a").size() == 1);
}

TEST_CASE("a session removed before anyone was given its path is still signalled as removed",
          "[luod][update][lazy][signals]")
{
    LuodOptions options;
    options.config = "[Update]\nUnclaimedTimeoutSec=2\n";
    Luod t(options, machine());
    t.client.create_session("orphan");
    UniqueFd m = make_memfd("m", "forgotten");
    t.client.preserve("orphan", m.get(), "m");
    std::string boot = load_and_update(t);
    REQUIRE(t.next_boot(boot) == 128 + SIGKILL);
    auto listener = sdbus::createSessionBusConnectionWithAddress(t.bus.address());
    auto proxy = luo::sdbus_compat::create_proxy(*listener, dbus::kBusName, dbus::kManagerPath);
    (void)proxy->getProperty("Version").onInterface(dbus::kManagerInterface);  // luod signals those it knows
    std::vector<std::pair<std::string, std::string>> removed;
    proxy->uponSignal("SessionRemoved").onInterface(dbus::kManagerInterface).call(
        [&](const std::string& name, const sdbus::ObjectPath& path) { removed.emplace_back(name, path); });
    luo::sdbus_compat::finish_proxy_registration(*proxy);
    REQUIRE(eventually([&] {
        while (luo::sdbus_compat::process_pending(*listener)) {
        }
        return !removed.empty();
    }));
    CHECK(removed.front().first == "orphan");
    CHECK(removed.front().second.rfind(std::string(dbus::kSessionPathPrefix) + "/s", 0) == 0);
    CHECK(session_children(t).empty());
}

namespace {

constexpr int kSessions = 300;

std::string vm(int i)
{
    char name[16];
    std::snprintf(name, sizeof name, "vm-%03d", i);
    return name;
}

// kSessions sessions with one memfd each holding its name, then an update: luod is started
// again in the next boot with `env` (say, a fault point) and, with `expect_ready`, ready.
void sessions_across_update(Luod& t, std::vector<std::string> env = {}, bool expect_ready = true)
{
    for (int i = 0; i < kSessions; ++i) {
        t.client.create_session(vm(i));
        UniqueFd m = make_memfd("m", vm(i));
        t.client.preserve(vm(i), m.get(), "ram");
    }
    std::string boot = load_and_update(t);
    t.luod.options().env = std::move(env);
    REQUIRE(t.next_boot(boot, expect_ready) == 128 + SIGKILL);
}

std::string claim_and_read(LuodClient& c, const std::string& name)
{
    sdbus::ObjectPath path;
    c.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(name).storeResultsTo(path);
    return read_all(c.retrieve_fd(name, "ram").get());
}

bool every_session_restored(Luod& t)
{
    return t.luod.log().find("every session of live update #1 is restored") != std::string::npos;
}

std::map<std::string, std::string> outcomes(const nlohmann::json& report)
{
    std::map<std::string, std::string> out;
    for (const auto& o : report["session_outcomes"])
        out[o["name"]] = o["outcome"];
    return out;
}

}  // namespace

TEST_CASE("after a kexec luod restores sessions in the background while their owners claim them, and reports each",
          "[luod][update][lazy]")
{
    Luod t({}, machine());
    sessions_across_update(t);
    CHECK(t.luod.log().find("each restored when claimed or in the background") != std::string::npos);
    // Ready having read the update's final record alone (the index says where it is): the
    // log's entries are walked after that.
    CHECK(t.luod.log().find("the manifest's log is walked once luod is ready") != std::string::npos);
    // Claims from the end of the name order, which the background reaches last.
    LuodClient c(t.bus.address());
    for (int i = kSessions - 1; i >= kSessions - 20; --i)
        CHECK(claim_and_read(c, vm(i)) == vm(i));
    CHECK(c.manager_u32("IncomingSessions") == kSessions);
    CHECK(c.list_session_names().size() == kSessions);
    CHECK(c.session_property_string(vm(0), "State") == "incoming");
    CHECK(c.session_property_string(vm(kSessions - 1), "State") == "retrieved");
    c.finish(vm(kSessions - 1));
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["result"] == "success");
    std::map<std::string, std::string> got = outcomes(report);
    REQUIRE(got.size() == kSessions);
    CHECK(got[vm(0)] == "crossed");
    CHECK(got[vm(kSessions - 1)] == "finished");
    CHECK(got[vm(kSessions - 2)] == "claimed");
    CHECK(std::count_if(got.begin(), got.end(), [](const auto& o) { return o.second == "claimed"; }) == 19);
    // Every session restored: luod's own session from before the update is let go.
    CHECK(eventually([&] {
        auto status = nlohmann::json::parse(model::status_json(t.model.root()));
        for (const auto& s : status["incoming"])
            if (s["name"] == "luod")
                return false;
        return true;
    }));
    CHECK(claim_and_read(c, vm(0)) == vm(0));
}

TEST_CASE("after a kexec luod is ready having retrieved only the manifest segment that holds the update's final "
          "record, and the walk retrieves the others and every session comes back",
          "[luod][update][lazy][walk]")
{
    LuodOptions options;
    options.config = "[Daemon]\nManifestSizeMiB=1\n[Sessions]\nMaxFilesPerSession=64\n";
    Luod t(options, machine());
    // Some 3,200 files with long labels: a log of several 1 MiB segments.
    constexpr int kMany = 100, kFiles = 32;
    auto label = [](int i, int f) { return "ram-" + std::to_string(f) + "-" + std::string(240, 'a' + i % 26); };
    for (int i = 0; i < kMany; ++i) {
        t.client.create_session(vm(i));
        std::vector<UniqueFd> fds;
        std::vector<std::pair<int, std::string>> batch;
        for (int f = 0; f < kFiles; ++f) {
            fds.push_back(make_memfd("m", vm(i) + "/" + std::to_string(f)));
            batch.emplace_back(fds.back().get(), label(i, f));
            if (batch.size() == 16) {
                t.client.preserve(vm(i), batch);
                batch.clear();
            }
        }
    }
    std::string boot = load_and_update(t);
    REQUIRE(t.next_boot(boot) == 128 + SIGKILL);
    std::string log = t.luod.log();
    const std::string said = "read the update's final record from the manifest that came across: ";
    std::size_t at = log.find(said);
    REQUIRE(at != std::string::npos);
    std::size_t of = log.find(" of its log's ", at);
    REQUIRE(of != std::string::npos);
    unsigned long retrieved = std::stoul(log.substr(at + said.size()));
    unsigned long segments = std::stoul(log.substr(of + 14));
    INFO(log.substr(at, 200));
    CHECK(segments >= 2);
    CHECK(retrieved < segments);
    CHECK(eventually([&] { return t.luod.log().find("serving org.luod.LiveUpdate1", at) != std::string::npos; }));
    // The walk reads the rest: every session, with its files and labels, from the first
    // segment as from the last.
    LuodClient c(t.bus.address());
    CHECK(c.list_session_names().size() == kMany);
    for (int i : {0, kMany / 2, kMany - 1}) {
        sdbus::ObjectPath path;
        c.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(vm(i)).storeResultsTo(path);
        for (int f : {0, kFiles - 1})
            CHECK(read_all(c.retrieve_fd(vm(i), label(i, f)).get()) == vm(i) + "/" + std::to_string(f));
    }
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["result"] == "success");
    CHECK(outcomes(report).size() == kMany);
}

// A fault point kills luod; a build without them (a package's test build) has no such test.
#if LUOD_FAULT_INJECTION
TEST_CASE("luod killed after restoring one session of many after a kexec: the next start restores the rest",
          "[luod][update][lazy][restart]")
{
    Luod t({}, machine());
    sessions_across_update(t, {"LUOD_FAULT=restore-midway"}, false);
    // The first session restored, by a claim or the background, was the fault point.
    REQUIRE(t.luod.wait_exit() == 128 + SIGKILL);
    t.luod.options().env.clear();
    t.luod.start();
    CHECK(t.luod.log().find(std::to_string(kSessions - 1) + " of the update still to restore") != std::string::npos);
    LuodClient c(t.bus.address());
    CHECK(c.manager_u32("IncomingSessions") == kSessions);
    CHECK(claim_and_read(c, vm(kSessions / 2)) == vm(kSessions / 2));
    CHECK(c.list_session_names().size() == kSessions);
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["result"] == "success");
    CHECK(report["phases"].contains("restore_ready"));
    std::map<std::string, std::string> got = outcomes(report);
    CHECK(got.size() == kSessions);
    CHECK(got[vm(kSessions / 2)] == "claimed");
    for (int i : {0, 1, kSessions - 1})
        CHECK(claim_and_read(c, vm(i)) == vm(i));
    // A restart now, with everything restored, loses nothing either.
    t.luod.stop();
    t.luod.start();
    LuodClient again(t.bus.address());
    CHECK(again.list_session_names().size() == kSessions);
    CHECK(again.session_property_string(vm(1), "State") == "retrieved");
    CHECK(again.session_property_string(vm(2), "State") == "incoming");
}
#endif  // LUOD_FAULT_INJECTION

namespace {

using SessionEntries = std::vector<sdbus::Struct<std::string, std::string, uint32_t, std::string, sdbus::ObjectPath>>;

// One ListSessionsPage call: the names of its page, and `next`.
std::pair<std::vector<std::string>, std::string> page_of(LuodClient& c, const std::string& after, std::uint32_t limit)
{
    SessionEntries entries;
    std::string next;
    c.manager().callMethod("ListSessionsPage").onInterface(dbus::kManagerInterface).withArguments(after, limit)
        .storeResultsTo(entries, next);
    std::vector<std::string> names;
    for (const auto& e : entries)
        names.push_back(std::get<0>(e));
    return {names, next};
}

}  // namespace

TEST_CASE("ListSessionsPage: pages in name order hold every session once, only their objects are registered, and "
          "each caller pages through its own",
          "[luod][api][lazy]")
{
    Luod t;
    std::vector<std::string> all;
    for (int i = 24; i >= 0; --i) {
        all.push_back("p-" + std::string(i < 10 ? "0" : "") + std::to_string(i));
        t.client.create_session(all.back());
    }
    REQUIRE(run_as_nobody([&] {
                LuodClient c(t.bus.address());
                c.create_session("nobodys-b");
                c.create_session("nobodys-a");
                return 0;
            }) == 0);
    all.insert(all.end(), {"nobodys-a", "nobodys-b"});  // root sees them too
    std::sort(all.begin(), all.end());
    t.luod.stop();
    t.luod.start();  // no object is registered at start
    LuodClient c(t.bus.address());
    auto [first, after_first] = page_of(c, "", 10);
    CHECK(first == std::vector<std::string>(all.begin(), all.begin() + 10));
    CHECK(after_first == all[9]);
    CHECK(session_children(t).size() == 10);  // the page's objects, no others
    auto [second, after_second] = page_of(c, after_first, 10);
    CHECK(second == std::vector<std::string>(all.begin() + 10, all.begin() + 20));
    CHECK(after_second == all[19]);
    auto [third, end] = page_of(c, after_second, 10);
    CHECK(third == std::vector<std::string>(all.begin() + 20, all.end()));
    CHECK(end.empty());
    CHECK(page_of(c, "p-23", 10).first == std::vector<std::string>{"p-24"});  // any name to start after
    // Bad limits change nothing and say why.
    for (std::uint32_t limit : {0u, 10001u})
        CHECK(dbus_error_of([&] { (void)page_of(c, "", limit); }) == err::kInvalidArgs);
    // Another user pages through its own sessions only.
    CHECK(run_as_nobody([&] {
              LuodClient mine(t.bus.address());
              auto [one, next] = page_of(mine, "", 1);
              auto [two, done] = page_of(mine, next, 1);
              return one == std::vector<std::string>{"nobodys-a"} && next == "nobodys-a" &&
                             two == std::vector<std::string>{"nobodys-b"} && done.empty()
                         ? 0
                         : 1;
          }) == 0);
}

TEST_CASE("after a kexec root's first page of sessions registers only its own objects", "[luod][update][lazy]")
{
    Luod t({}, machine());
    sessions_across_update(t);
    LuodClient c(t.bus.address());
    auto [names, next] = page_of(c, "", 5);
    CHECK(names == std::vector<std::string>{vm(0), vm(1), vm(2), vm(3), vm(4)});
    CHECK(next == vm(4));
    CHECK(session_children(t).size() == 5);
    // Paging on reaches every session once.
    std::size_t seen = names.size();
    while (!next.empty()) {
        auto [more, after] = page_of(c, next, 128);
        seen += more.size();
        next = after;
    }
    CHECK(seen == static_cast<std::size_t>(kSessions));
}

// LUOD_FAULT_HOLD holds the walk: test builds only (packages build without fault points).
#if LUOD_FAULT_INJECTION
TEST_CASE("after a kexec luod walks the old manifest in bounded steps once ready, answers calls while the walk waits, "
          "and a call that names a session waits for the walk and gets the right answer",
          "[luod][update][lazy][walk]")
{
    Luod t({}, machine());
    // Steps of 16 entries, and the walk held after its first step until a call needs it.
    sessions_across_update(t, {"LUOD_WALK_STEP=16", "LUOD_FAULT_HOLD=walk-step"});
    REQUIRE(eventually([&] { return t.luod.log().find("the walk waits for a call that needs it") != std::string::npos; }));
    std::string log = t.luod.log();
    CHECK(log.find("serving org.luod.LiveUpdate1") < log.find("the walk waits"));
    // Calls that need no session of the update are answered while the walk is held.
    LuodClient c(t.bus.address());
    CHECK(c.manager_string("Version") == LUO_VERSION);
    CHECK(c.manager().getProperty("LiveUpdateCount").onInterface(dbus::kManagerInterface).get<std::uint64_t>() == 1);
    CHECK(c.manager_u32("Sessions") == 0);
    CHECK(c.manager_u32("IncomingSessions") == kSessions);  // root's: from the update's record
    CHECK(dbus_error_of([&] {
              (void)c.manager().callMethod("ListSessionsPage").onInterface(dbus::kManagerInterface)
                  .withArguments(std::string(), std::uint32_t{0});
          }) == err::kInvalidArgs);  // bad arguments are refused at once
    CHECK(t.luod.log().find("walked the manifest that came across") == std::string::npos);
    // The first call that needs the update's sessions waits for the walk: a session of the
    // update cannot be created again, nor could it before its name was known.
    CHECK(dbus_error_of([&] { c.create_session(vm(5)); }) == err::kInvalidState);
    log = t.luod.log();
    std::size_t walked = log.find("walked the manifest that came across: " + std::to_string(kSessions) + " sessions");
    REQUIRE(walked != std::string::npos);
    // In more than one step: "<entries> entries in <steps> steps".
    std::size_t in = log.find(" entries in ", walked);
    REQUIRE(in != std::string::npos);
    CHECK(std::stoul(log.substr(in + 12)) > 1);
    CHECK(claim_and_read(c, vm(kSessions - 1)) == vm(kSessions - 1));
    CHECK(dbus_error_of([&] { (void)c.get_session("vm-nobody"); }) == err::kNoSuchSession);
    CHECK(c.list_session_names().size() == kSessions);
    CHECK(c.manager_u32("IncomingSessions") == kSessions);
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["result"] == "success");
    CHECK(outcomes(report)[vm(kSessions - 1)] == "claimed");
}

TEST_CASE("after a kexec LastUpdate answers at once with the report so far while luod has not read the sessions that "
          "came across, then with their outcomes, announced by PropertiesChanged",
          "[luod][update][lazy][walk][report]")
{
    Luod t({}, machine());
    // The walk held after its first step, until a call needs the update's sessions.
    sessions_across_update(t, {"LUOD_WALK_STEP=16", "LUOD_FAULT_HOLD=walk-step"});
    REQUIRE(eventually([&] { return t.luod.log().find("the walk waits for a call that needs it") != std::string::npos; }));
    auto listener = sdbus::createSessionBusConnectionWithAddress(t.bus.address());
    auto proxy = luo::sdbus_compat::create_proxy(*listener, dbus::kBusName, dbus::kManagerPath);
    (void)proxy->getProperty("Version").onInterface(dbus::kManagerInterface);  // luod signals those it knows
    std::vector<std::string> changed;
    proxy->uponSignal("PropertiesChanged").onInterface("org.freedesktop.DBus.Properties").call(
        [&](const std::string& interface, const std::map<std::string, sdbus::Variant>& values,
            const std::vector<std::string>& invalidated) {
            if (interface != dbus::kManagerInterface)
                return;
            for (const auto& [name, value] : values)
                changed.push_back(name);
            changed.insert(changed.end(), invalidated.begin(), invalidated.end());
        });
    luo::sdbus_compat::finish_proxy_registration(*proxy);
    // No owner read yet: the report says what the update's record says, without outcomes.
    LuodClient c(t.bus.address());
    nlohmann::json so_far = nlohmann::json::parse(c.manager_string("LastUpdate"));
    CHECK(so_far["result"] == "success");
    CHECK(so_far["sessions"] == kSessions);
    CHECK(so_far["live_update_count"] == 1);
    CHECK(so_far["phases"].contains("reboot_called"));
    CHECK(so_far["phases"].contains("restore_ready"));
    CHECK(so_far.contains("blackout_ms"));
    CHECK_FALSE(so_far.contains("session_outcomes"));
    CHECK(t.luod.log().find("walked the manifest that came across") == std::string::npos);
    CHECK(c.manager_string("LastUpdate") == so_far.dump());  // reading it again changes nothing
    // A call that needs the sessions lets the walk go on: the report follows, and is announced.
    CHECK(c.list_session_names().size() == kSessions);
    REQUIRE(eventually([&] {
        while (luo::sdbus_compat::process_pending(*listener)) {
        }
        return std::find(changed.begin(), changed.end(), "LastUpdate") != changed.end();
    }));
    nlohmann::json whole = nlohmann::json::parse(c.manager_string("LastUpdate"));
    REQUIRE(whole.contains("session_outcomes"));
    CHECK(whole["session_outcomes"].size() == kSessions);
    CHECK(outcomes(whole)[vm(0)] == "crossed");
    nlohmann::json head = whole;
    head.erase("session_outcomes");
    CHECK(head == so_far);  // the rest as it was
}

#endif  // LUOD_FAULT_INJECTION

TEST_CASE("after a kexec every call that names a session while the walk is under way gets the answer it gets after it",
          "[luod][update][lazy][walk]")
{
    Luod t({}, machine());
    sessions_across_update(t, {"LUOD_WALK_STEP=4"});  // some 250 turns of the event loop
    // Right at readiness, without waiting for anything.
    LuodClient c(t.bus.address());
    CHECK(claim_and_read(c, vm(kSessions / 2)) == vm(kSessions / 2));
    CHECK(dbus_error_of([&] { c.create_session(vm(0)); }) == err::kInvalidState);
    CHECK(c.list_session_names().size() == kSessions);
    CHECK(c.create_session("new-one").rfind(std::string(dbus::kSessionPathPrefix), 0) == 0);
    CHECK(c.list_session_names().size() == kSessions + 1);
}

#if LUOD_FAULT_INJECTION
TEST_CASE("luod killed during the walk of the old manifest after a kexec: the next start has every session",
          "[luod][update][lazy][walk][restart]")
{
    Luod t({}, machine());
    sessions_across_update(t, {"LUOD_WALK_STEP=16", "LUOD_FAULT=walk-step"}, false);
    REQUIRE(t.luod.wait_exit() == 128 + SIGKILL);
    std::string log = t.luod.log();
    // Ready first, then killed at the end of the walk's first step.
    REQUIRE(log.find("fault point 'walk-step': killing luod") != std::string::npos);
    CHECK(log.find("serving org.luod.LiveUpdate1") < log.find("fault point 'walk-step'"));
    t.luod.options().env.clear();
    t.luod.start();
    LuodClient c(t.bus.address());
    CHECK(c.manager_u32("IncomingSessions") == kSessions);
    CHECK(c.list_session_names().size() == kSessions);
    for (int i : {0, kSessions / 2, kSessions - 1})
        CHECK(claim_and_read(c, vm(i)) == vm(i));
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["result"] == "success");
    CHECK(outcomes(report).size() == static_cast<std::size_t>(kSessions));
}
#endif  // LUOD_FAULT_INJECTION

// LUOD_FAULT_HOLD holds the background restore or the walk: test builds only.
#if LUOD_FAULT_INJECTION
namespace {

// What a listing says of a session (ListSessions' and ListSessionsPage's entries, its object
// path aside), one line each, in the order listed.
std::string described(const SessionEntries& entries)
{
    std::string out;
    for (const auto& e : entries)
        out += std::get<0>(e) + " " + std::get<1>(e) + " " + std::to_string(std::get<2>(e)) + " " + std::get<3>(e) + "\n";
    return out;
}

SessionEntries list_all(LuodClient& c)
{
    SessionEntries entries;
    c.manager().callMethod("ListSessions").onInterface(dbus::kManagerInterface).storeResultsTo(entries);
    return entries;
}

// Every page of `limit` from the start, in one list.
SessionEntries paged(LuodClient& c, std::uint32_t limit)
{
    SessionEntries all;
    std::string after;
    do {
        SessionEntries entries;
        c.manager().callMethod("ListSessionsPage").onInterface(dbus::kManagerInterface).withArguments(after, limit)
            .storeResultsTo(entries, after);
        all.insert(all.end(), entries.begin(), entries.end());
    } while (!after.empty());
    return all;
}

struct Made {
    std::string name;
    uid_t uid = 0;
    std::string unit;
    std::size_t files = 0;
};

// kSessions sessions, a third root's (one memfd each), a third nobody's and a third nobody's
// inside a unit the test is not in (which nobody's calls may not see), then an update: luod
// starts again in the next boot with `env`. What was made, in name order.
std::vector<Made> owned_sessions_across_update(Luod& t, std::vector<std::string> env)
{
    std::vector<Made> made;
    for (int i = 0; i < kSessions; ++i) {
        Made m{vm(i), i % 3 == 0 ? 0 : nobody_uid(), i % 3 == 2 ? "listing@hidden.service" : "", i % 3 == 0 ? 1u : 0u};
        std::map<std::string, sdbus::Variant> options;
        if (m.uid != 0)
            options.emplace("OwnerUID", sdbus::Variant(std::uint32_t{m.uid}));
        if (!m.unit.empty())
            options.emplace("OwnerUnit", sdbus::Variant(m.unit));
        sdbus::ObjectPath path;
        t.client.manager().callMethod("CreateSession").onInterface(dbus::kManagerInterface)
            .withArguments(m.name, options).storeResultsTo(path);
        if (m.files > 0) {
            UniqueFd fd = make_memfd("m", m.name);
            t.client.preserve(m.name, fd.get(), "ram");
        }
        made.push_back(m);
    }
    std::string boot = load_and_update(t);
    t.luod.options().env = std::move(env);
    REQUIRE(t.next_boot(boot) == 128 + SIGKILL);
    return made;
}

// The listing of `made` that `uid` (outside any unit) may see: root every session, others
// those of their uid made outside any unit.
std::string visible_to(const std::vector<Made>& made, uid_t uid)
{
    std::string out;
    for (const Made& m : made)
        if (uid == 0 || (m.uid == uid && m.unit.empty()))
            out += m.name + " incoming " + std::to_string(m.uid) + " " + m.unit + "\n";
    return out;
}

// nobody's view, checked in a child running as nobody: both listings, both counts, and no
// other owner's session reachable by name.
std::string nobodys_view_holds(const std::string& bus, const std::vector<Made>& made)
{
    LuodClient mine(bus);
    std::string want = visible_to(made, nobody_uid());
    std::size_t count = static_cast<std::size_t>(std::count(want.begin(), want.end(), '\n'));
    std::string failures = expect("ListSessions", described(list_all(mine)), want) +
                           expect("ListSessionsPage by 7", described(paged(mine, 7)), want) +
                           expect("ListSessionsPage by 1000", described(paged(mine, 1000)), want) +
                           expect("Sessions", std::to_string(mine.manager_u32("Sessions")), "0") +
                           expect("IncomingSessions", std::to_string(mine.manager_u32("IncomingSessions")),
                                  std::to_string(count));
    for (const std::string& other : {vm(0), vm(2)})  // root's, and nobody's inside another unit
        failures += expect("GetSession " + other, dbus_error_of([&] { (void)mine.get_session(other); }),
                           err::kNoSuchSession);
    return failures;
}

}  // namespace

TEST_CASE("after a kexec ListSessions, ListSessionsPage, the counts and LastUpdate answer without restoring the "
          "sessions, each caller seeing only its own, as they answer once every session is restored",
          "[luod][update][lazy][listing]")
{
    Luod t({}, machine());
    // The background restore held: only what calls restore themselves is restored.
    std::vector<Made> made = owned_sessions_across_update(t, {"LUOD_FAULT_HOLD=restore-batch"});
    REQUIRE(eventually([&] { return t.luod.log().find("fault point 'restore-batch'") != std::string::npos; }));
    LuodClient c(t.bus.address());
    CHECK(claim_and_read(c, vm(3)) == vm(3));  // one session claimed, so restored
    std::string everyone = visible_to(made, 0);
    SessionEntries listed = list_all(c);
    CHECK(described(listed) == everyone);
    CHECK(paged(c, 7) == listed);  // the same entries, object paths included
    CHECK(paged(c, 10000) == listed);
    CHECK(check_as(nobody_uid(), [&] { return nobodys_view_holds(t.bus.address(), made); }) == 0);
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["result"] == "success");
    REQUIRE(report["session_outcomes"].size() == made.size());
    for (std::size_t i = 0; i < made.size(); ++i) {
        const auto& o = report["session_outcomes"][i];
        CHECK(o["name"] == made[i].name);
        CHECK(o["owner_uid"] == made[i].uid);
        CHECK(o["files"] == made[i].files);
        CHECK(o["outcome"] == (made[i].name == vm(3) ? "claimed" : "crossed"));
    }
    // None of it restored a session: luod still holds its session from before the update,
    // which it lets go of once every session is restored.
    CHECK_FALSE(every_session_restored(t));
    auto status = nlohmann::json::parse(model::status_json(t.model.root()));
    CHECK(std::any_of(status["incoming"].begin(), status["incoming"].end(),
                      [](const auto& s) { return s["name"] == "luod"; }));
    // Check restores every session (its checks read every record): then the same answers.
    std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
    c.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
    REQUIRE(every_session_restored(t));
    CHECK(list_all(c) == listed);
    CHECK(paged(c, 7) == listed);
    CHECK(check_as(nobody_uid(), [&] { return nobodys_view_holds(t.bus.address(), made); }) == 0);
    CHECK(nlohmann::json::parse(c.last_update()) == report);
    CHECK(claim_and_read(c, vm(0)) == vm(0));
}

TEST_CASE("after a kexec a non-root caller's Sessions is answered while the walk of the old manifest waits, and "
          "equals what it is after the walk",
          "[luod][update][lazy][walk][listing]")
{
    Luod t({}, machine());
    std::vector<Made> made = owned_sessions_across_update(t, {"LUOD_WALK_STEP=16", "LUOD_FAULT_HOLD=walk-step"});
    REQUIRE(eventually([&] { return t.luod.log().find("the walk waits for a call that needs it") != std::string::npos; }));
    auto nobodys_sessions = [&] {
        return check_as(nobody_uid(), [&] {
            LuodClient mine(t.bus.address());
            return expect("Sessions", std::to_string(mine.manager_u32("Sessions")), "0");
        });
    };
    CHECK(nobodys_sessions() == 0);
    CHECK(t.luod.log().find("walked the manifest that came across") == std::string::npos);
    // After the walk (which the first listing waits for), the same, and the rest of the view.
    CHECK(described(list_all(t.client)) == visible_to(made, 0));
    CHECK(t.luod.log().find("walked the manifest that came across") != std::string::npos);
    CHECK(nobodys_sessions() == 0);
    CHECK(check_as(nobody_uid(), [&] { return nobodys_view_holds(t.bus.address(), made); }) == 0);
}

TEST_CASE("after a kexec calls that name no session are answered while the background walk keeps the event loop busy",
          "[luod][update][lazy][walk]")
{
    Luod t({}, machine());
    // The walk posts itself again and again without a step: the event loop always has
    // background work to do, as it has during a long walk and restore.
    sessions_across_update(t, {"LUOD_FAULT_HOLD=walk-spin"});
    REQUIRE(eventually([&] { return t.luod.log().find("fault point 'walk-spin'") != std::string::npos; }));
    LuodClient c(t.bus.address());
    CHECK(c.manager_string("Version") == LUO_VERSION);
    CHECK(c.manager_string("State") == "updated");
    CHECK(c.manager_u32("IncomingSessions") == kSessions);
    CHECK(check_as(nobody_uid(), [&] {
              LuodClient mine(t.bus.address());
              return expect("Sessions", std::to_string(mine.manager_u32("Sessions")), "0");
          }) == 0);
    CHECK(t.luod.log().find("walked the manifest that came across") == std::string::npos);
    // A call that needs the update's sessions ends the spin and is answered after the walk.
    CHECK(c.list_session_names().size() == kSessions);
    CHECK(t.luod.log().find("walked the manifest that came across") != std::string::npos);
}

TEST_CASE("after a kexec a non-root caller's page waits while luod reads the owners of the sessions in bounded steps, "
          "and is what it is once they are restored",
          "[luod][update][lazy][walk][listing]")
{
    Luod t({}, machine());
    // Steps of 8 sessions; the background restore held, so that every session waits for the steps.
    std::vector<Made> made = owned_sessions_across_update(t, {"LUOD_GLANCE_STEP=8", "LUOD_FAULT_HOLD=restore-batch"});
    CHECK(check_as(nobody_uid(), [&] {
              LuodClient mine(t.bus.address());
              return expect("ListSessionsPage by 5", described(paged(mine, 5)), visible_to(made, nobody_uid()));
          }) == 0);
    std::string log = t.luod.log();
    std::size_t read = log.find("read the owners of the update's sessions not restored yet in ");
    REQUIRE(read != std::string::npos);
    CHECK(std::stoul(log.substr(read + 61)) >= static_cast<std::size_t>(kSessions / 8));
    CHECK_FALSE(every_session_restored(t));
    // Root's page reads its own sessions only: no step for it.
    CHECK(described(paged(t.client, 1000)) == visible_to(made, 0));
    // Once every session is restored (Check), the same.
    std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
    t.client.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
    REQUIRE(every_session_restored(t));
    CHECK(check_as(nobody_uid(), [&] {
              LuodClient mine(t.bus.address());
              return expect("ListSessionsPage by 5", described(paged(mine, 5)), visible_to(made, nobody_uid()));
          }) == 0);
}

TEST_CASE("after a kexec a non-root caller's quotas count the update's sessions without restoring them",
          "[luod][update][lazy][quota]")
{
    LuodOptions options;
    options.config = "[Sessions]\nMaxFilesPerUser=3\nMaxSessionsPerUser=1\n";
    Luod t(options, machine());
    // nobody's two files cross the update (in sessions the quota counted as outgoing then).
    REQUIRE(t.nobody_preserves("nobodys-1", "m", "first"));
    sdbus::ObjectPath path;
    t.client.manager().callMethod("CreateSession").onInterface(dbus::kManagerInterface)
        .withArguments(std::string("nobodys-2"),
                       std::map<std::string, sdbus::Variant>{{"OwnerUID", sdbus::Variant(std::uint32_t{nobody_uid()})}})
        .storeResultsTo(path);
    REQUIRE(run_as_nobody([&] {
                LuodClient mine(t.bus.address());
                UniqueFd m = make_memfd("m", "second");
                mine.preserve("nobodys-2", m.get(), "m");
                return 0;
            }) == 0);
    std::string boot = load_and_update(t);
    t.luod.options().env = {"LUOD_FAULT_HOLD=restore-batch"};
    REQUIRE(t.next_boot(boot) == 128 + SIGKILL);
    REQUIRE(eventually([&] { return t.luod.log().find("fault point 'restore-batch'") != std::string::npos; }));
    // Incoming sessions are no sessions of nobody's for MaxSessionsPerUser; their two files
    // count for MaxFilesPerUser: one more file fits, a second does not.
    CHECK(check_as(nobody_uid(), [&] {
              LuodClient mine(t.bus.address());
              std::string failures;
              try {
                  mine.create_session("nobodys-new");
                  UniqueFd m = make_memfd("m", "third");
                  mine.preserve("nobodys-new", m.get(), "m");
              } catch (const sdbus::Error& e) {
                  failures += "create and preserve: " + e.getName() + " " + e.getMessage() + "; ";
              }
              UniqueFd m = make_memfd("m", "fourth");
              failures += expect("a fourth file",
                                 dbus_error_of([&] { mine.preserve("nobodys-new", m.get(), "m2"); }),
                                 err::kQuotaExceeded);
              return failures;
          }) == 0);
    CHECK_FALSE(every_session_restored(t));
    // Restored (Check), the same counts: the fourth file is still refused.
    std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
    t.client.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
    REQUIRE(every_session_restored(t));
    CHECK(check_as(nobody_uid(), [&] {
              LuodClient mine(t.bus.address());
              UniqueFd m = make_memfd("m", "fourth");
              return expect("a fourth file", dbus_error_of([&] { mine.preserve("nobodys-new", m.get(), "m2"); }),
                            err::kQuotaExceeded);
          }) == 0);
}

TEST_CASE("after a kexec the report LastUpdate wrote before any session was restored survives a restart, which "
          "restores the rest",
          "[luod][update][lazy][restart][listing]")
{
    Luod t({}, machine());
    std::vector<Made> made = owned_sessions_across_update(t, {"LUOD_FAULT_HOLD=restore-batch"});
    LuodClient c(t.bus.address());
    CHECK(claim_and_read(c, vm(3)) == vm(3));
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    REQUIRE(outcomes(report).size() == made.size());
    CHECK_FALSE(every_session_restored(t));
    // A restart now: luod's records say restoring, the report is written, the update is over.
    t.luod.stop();
    t.luod.options().env.clear();
    t.luod.start();
    LuodClient again(t.bus.address());
    CHECK(described(list_all(again)) == visible_to(made, 0));
    CHECK(nlohmann::json::parse(again.last_update())["session_outcomes"] == report["session_outcomes"]);
    CHECK(again.session_property_string(vm(3), "State") == "retrieved");
    CHECK(claim_and_read(again, vm(0)) == vm(0));
    CHECK(eventually([&] { return t.luod.log().find("every session of live update #1 is restored") != std::string::npos; }));
    CHECK(outcomes(nlohmann::json::parse(again.last_update()))[vm(0)] == "claimed");
}
TEST_CASE("after a kexec sessions whose manifest entries lie apart and across a segment's seam are read whole: their "
          "owners and file counts before any restore, then every file's label and bytes once restored",
          "[luod][update][lazy][walk]")
{
    LuodOptions options;
    options.config = "[Daemon]\nManifestSizeMiB=1\n[Sessions]\nMaxFilesPerSession=256\n";
    Luod t(options, machine());
    // Files added to every session in turn, 16 with long labels at a time: each session's
    // entries lie far apart in a log of two 1 MiB segments.
    constexpr int kOwners = 12, kRounds = 10, kBatch = 16;
    auto label = [](int i, int f) { return "ram-" + std::to_string(f) + "-" + std::string(240, 'a' + i % 26); };
    auto owner = [](int i) { return i % 2 == 0 ? uid_t{0} : nobody_uid(); };
    for (int i = 0; i < kOwners; ++i) {
        std::map<std::string, sdbus::Variant> create;
        if (owner(i) != 0)
            create.emplace("OwnerUID", sdbus::Variant(std::uint32_t{owner(i)}));
        sdbus::ObjectPath path;
        t.client.manager().callMethod("CreateSession").onInterface(dbus::kManagerInterface)
            .withArguments(vm(i), create).storeResultsTo(path);
    }
    for (int round = 0; round < kRounds; ++round)
        for (int i = 0; i < kOwners; ++i) {
            std::vector<UniqueFd> fds;
            std::vector<std::pair<int, std::string>> batch;
            for (int f = round * kBatch; f < (round + 1) * kBatch; ++f) {
                fds.push_back(make_memfd("m", vm(i) + "/" + std::to_string(f)));
                batch.emplace_back(fds.back().get(), label(i, f));
            }
            t.client.preserve(vm(i), batch);
        }
    std::string boot = load_and_update(t);
    t.luod.options().env = {"LUOD_FAULT_HOLD=restore-batch"};
    REQUIRE(t.next_boot(boot) == 128 + SIGKILL);
    std::string log = t.luod.log();
    std::size_t of = log.find(" of its log's ", log.find("read the update's final record from the manifest"));
    REQUIRE(of != std::string::npos);
    CHECK(std::stoul(log.substr(of + 14)) >= 2);  // segments
    // Before any restore: every session's owner and files, read from its entries (the report).
    LuodClient c(t.bus.address());
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    REQUIRE(report["session_outcomes"].size() == kOwners);
    for (int i = 0; i < kOwners; ++i) {
        const auto& o = report["session_outcomes"][static_cast<std::size_t>(i)];
        CHECK(o["name"] == vm(i));
        CHECK(o["owner_uid"] == owner(i));
        CHECK(o["files"] == kRounds * kBatch);
    }
    CHECK_FALSE(every_session_restored(t));
    // Check restores every session: each has every file under its label, with its bytes.
    std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
    c.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
    REQUIRE(every_session_restored(t));
    for (int i = 0; i < kOwners; ++i) {
        INFO(vm(i));
        std::set<std::string> labels, expected;
        for (const auto& [l, token, type] : c.files(vm(i)))
            labels.insert(l);
        for (int f = 0; f < kRounds * kBatch; ++f)
            expected.insert(label(i, f));
        CHECK(labels == expected);
        sdbus::ObjectPath path;
        c.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(vm(i)).storeResultsTo(path);
        for (int f : {0, kBatch, kRounds * kBatch - 1})
            CHECK(read_all(c.retrieve_fd(vm(i), label(i, f)).get()) == vm(i) + "/" + std::to_string(f));
    }
}
TEST_CASE("sessions nobody claims within UnclaimedTimeoutSec after a kexec are released a step at a time, each "
          "step a turn of the event loop, every one of them released and reported",
          "[luod][update][lazy][unclaimed]")
{
    LuodOptions options;
    options.config = "[Update]\nUnclaimedTimeoutSec=1\n";
    Luod t(options, machine());
    constexpr int kUnclaimed = 40, kStep = 8;
    for (int i = 0; i < kUnclaimed; ++i) {
        t.client.create_session(vm(i));
        UniqueFd m = make_memfd("m", vm(i));
        t.client.preserve(vm(i), m.get(), "ram");
    }
    std::string boot = load_and_update(t);
    t.luod.options().env = {"LUOD_RELEASE_STEP=" + std::to_string(kStep)};
    REQUIRE(t.next_boot(boot) == 128 + SIGKILL);
    const std::string steps = "released the sessions nobody claimed in ";
    REQUIRE(eventually([&] { return t.luod.log().find(steps) != std::string::npos; }));
    std::string log = t.luod.log();
    // Those restored a step at a time first (unless the background restore got there), then
    // released 8 a step: at least 40 / 8 steps, and one that finds none left.
    CHECK(std::stoul(log.substr(log.find(steps) + steps.size())) >= kUnclaimed / kStep + 1);
    CHECK(log.find(std::to_string(kUnclaimed) + " sessions were not claimed within 1 s") != std::string::npos);
    LuodClient c(t.bus.address());
    CHECK(c.list_session_names().empty());
    nlohmann::json report = nlohmann::json::parse(c.last_update());
    CHECK(report["phases"].contains("all_finished"));
    std::map<std::string, std::string> got = outcomes(report);
    REQUIRE(got.size() == kUnclaimed);
    CHECK(std::all_of(got.begin(), got.end(), [](const auto& o) { return o.second == "released-unclaimed"; }));
    auto status = nlohmann::json::parse(model::status_json(t.model.root()));
    for (const auto& s : status["incoming"])
        CHECK(s["name"] == "luod");  // the kernel let go of every session of the update
}
#endif  // LUOD_FAULT_INJECTION

namespace {

// `count` sessions with a memfd each, then an update through systemd (the stand-in): its
// kexec of the model carries them in luod's fd store; luod is not started again.
void sessions_across_systemd_kexec(Luod& t, SystemdStandIn& systemd, int count)
{
    for (int i = 0; i < count; ++i) {
        t.client.create_session(vm(i));
        UniqueFd m = make_memfd("m", vm(i));
        t.client.preserve(vm(i), m.get(), "ram");
    }
    t.client.load_kernel(t.kernel_image());
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface)
        .withArguments(std::map<std::string, sdbus::Variant>{});
    REQUIRE(systemd.wait_for_kexec_request() == "replace-irreversibly");
    systemd.kexec(t.model, t.luod);
}

}  // namespace

TEST_CASE("with the systemd strategy a session restored after a kexec is in luod's fd store under its incoming "
          "name only, and a restart after the restore finds every session",
          "[luod][update][lazy][systemd]")
{
    LuodOptions options;
    options.config = "[Update]\nStrategy=auto\n";
    Luod t(options, machine());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    REQUIRE(eventually([&] { return t.luod.log().find("systemd 262.1-1 on the bus") != std::string::npos; }));
    constexpr int kCarried = 6;
    sessions_across_systemd_kexec(t, systemd, kCarried);
    t.luod.start();
    REQUIRE(eventually([&] { return every_session_restored(t); }));
    auto hex = [](const std::string& name) {
        std::string out;
        for (unsigned char c : name) {
            out += "0123456789abcdef"[c >> 4];
            out += "0123456789abcdef"[c & 15];
        }
        return out;
    };
    t.luod.notify().sync();
    for (int i = 0; i < kCarried; ++i) {
        INFO(vm(i));
        CHECK(t.luod.notify().stored("luo-i-" + hex(vm(i))) == 1);
        CHECK(t.luod.notify().stored("luo-s-" + hex(vm(i))) == 0);
    }
    t.luod.stop(SIGKILL);
    t.luod.start();
    LuodClient c(t.bus.address());
    CHECK(c.manager_u32("IncomingSessions") == kCarried);
    for (int i = 0; i < kCarried; ++i)
        CHECK(claim_and_read(c, vm(i)) == vm(i));
}

#if LUOD_FAULT_INJECTION
TEST_CASE("with the systemd strategy luod killed while restoring after a kexec: the next start finds its session from "
          "before in the fd store, and every session",
          "[luod][update][lazy][systemd][restart]")
{
    LuodOptions options;
    options.config = "[Update]\nStrategy=auto\n";
    Luod t(options, machine());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    REQUIRE(eventually([&] { return t.luod.log().find("systemd 262.1-1 on the bus") != std::string::npos; }));
    constexpr int kCarried = 4;
    sessions_across_systemd_kexec(t, systemd, kCarried);
    // The restore held: luod's session from before (the manifest that came across) is what a
    // restart reads it from. The fd store, like systemd's, keeps a file once, under one name.
    t.luod.options().env = {"LUOD_FAULT_HOLD=restore-batch"};
    t.luod.start();
    REQUIRE(eventually([&] { return t.luod.log().find("fault point 'restore-batch'") != std::string::npos; }));
    t.luod.notify().sync();
    CHECK(t.luod.notify().stored("luo-i-6c756f64") == 1);  // the incoming "luod"
    CHECK(t.luod.notify().stored("luo-s-6c756f64") == 1);  // this boot's new one
    t.luod.stop(SIGKILL);
    t.luod.options().env.clear();
    t.luod.start();
    CHECK(t.luod.log().find("nothing of luod's") == std::string::npos);
    LuodClient c(t.bus.address());
    CHECK(c.manager_u32("IncomingSessions") == kCarried);
    for (int i = 0; i < kCarried; ++i)
        CHECK(claim_and_read(c, vm(i)) == vm(i));
}
#endif  // LUOD_FAULT_INJECTION

#if LUOD_FAULT_INJECTION
TEST_CASE("while luod starts after a kexec, before its event loop runs, it still answers the service manager's "
          "watchdog",
          "[luod][update][lazy][systemd][watchdog]")
{
    Luod t({}, machine());
    // The start after the kexec stalls where it has just retrieved luod's session from before
    // (as a long first open of the device would, a single system call): no READY=1, but the
    // watchdog hears from luod (systemd runs WatchdogSec= during a Type=notify start too).
    t.luod.options().watchdog = std::chrono::milliseconds(200);
    sessions_across_update(t, {"LUOD_FAULT_STALL=restore-after-retrieve"}, false);
    CHECK(t.luod.notify().wait_watchdog(3, std::chrono::seconds(30)));
    CHECK_FALSE(t.luod.notify().wait_ready(std::chrono::milliseconds(0)));
    // Started again without the stall: every session is there, and the loop pings on.
    t.luod.stop(SIGKILL);
    t.luod.options().env.clear();
    t.luod.start();
    LuodClient c(t.bus.address());
    CHECK(c.manager_u32("IncomingSessions") == kSessions);
    CHECK(claim_and_read(c, vm(0)) == vm(0));
}
#endif  // LUOD_FAULT_INJECTION
