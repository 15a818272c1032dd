// SPDX-License-Identifier: Apache-2.0
// Faults across a session's life and the update: luod killed (SIGKILL) at each step of a
// change — creating a session, preserving files, the barrier, right before the reboot, and
// after the kexec while restoring — then started again by the fd-store harness, as systemd
// would. Nothing acknowledged is lost, nothing keeps a wrong owner, and what was half done is
// said so. Also: corrupt handover data, and clients crashing at each step.
#include <signal.h>
#include <unistd.h>

#include "luo_catch.h"
#include <nlohmann/json.hpp>
#include <sdbus-c++/sdbus-c++.h>
#include <fstream>
#include <functional>
#include <future>
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

namespace {

std::string retrieve_text(Luod& t, const std::string& session, const std::string& label)
{
    sdbus::ObjectPath path;
    t.client.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface)
        .withArguments(session).storeResultsTo(path);
    return read_all(t.client.retrieve_fd(session, label).get());
}

std::string verdict(Luod& t, const std::string& id)
{
    std::vector<sdbus::Struct<std::string, std::string, std::string>> results;
    t.client.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(results);
    for (const auto& r : results)
        if (std::get<0>(r) == id)
            return std::get<1>(r);
    return "missing";
}

}  // namespace

// luod kills itself at a fault point only in builds with fault injection (LUO_FAULT_INJECTION,
// on with the tests by default; release and package builds have no fault points).
#if LUOD_FAULT_INJECTION

namespace {

// Starts luod armed to die at `point`; the caller then makes it get there.
void arm(Luod& t, const std::string& point)
{
    t.luod.stop(SIGTERM);
    t.luod.options().env = {"LUOD_FAULT=" + point};
    t.luod.start();
}

// luod died at the fault point; start it again without it, as systemd's Restart= would.
void restart_after_fault(Luod& t)
{
    REQUIRE(t.luod.wait_exit() == 128 + SIGKILL);
    CHECK(t.luod.log().find("fault point") != std::string::npos);
    t.luod.options().env.clear();
    t.luod.start();
}

void load_and_update(Luod& t)
{
    t.client.load_kernel(t.kernel_image());
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
}

json last_update(Luod& t) { return json::parse(t.client.last_update()); }

}  // namespace

TEST_CASE("luod killed while creating a session: the restart keeps exactly what was acknowledged, with its owner",
          "[faults][create]")
{
    auto point = GENERATE(as<std::string>{}, "create-after-write-ahead", "create-after-kernel", "create-after-store");
    INFO(point);
    Luod t;
    t.client.create_session("kept");
    UniqueFd m = make_memfd("m", "kept");
    t.client.preserve("kept", m.get(), "m");
    arm(t, point);
    int status = run_as_nobody([&] {
        LuodClient c(t.bus.address());
        return dbus_error_of([&] { c.create_session("victim"); }).empty() ? 1 : 0;  // no answer: luod died
    });
    CHECK(status == 0);
    restart_after_fault(t);

    bool created = point == "create-after-store";
    auto names = t.client.list_session_names();
    CHECK(std::count(names.begin(), names.end(), "victim") == (created ? 1 : 0));
    CHECK(t.kernel_sessions().count("victim") == (created ? 1u : 0u));
    if (created) {
        // It is nobody's, as it was being created for nobody, not root's by default.
        CHECK(run_as_nobody([&] {
                  LuodClient c(t.bus.address());
                  UniqueFd f = make_memfd("f");
                  return dbus_error_of([&] { c.preserve("victim", f.get(), "f"); }).empty() ? 0 : 1;
              }) == 0);
    } else {
        CHECK_NOTHROW(t.client.create_session("victim"));  // the name is free again
    }
    CHECK(t.client.files("kept").size() == 1);
    CHECK(t.kernel_sessions()["kept"] == std::vector<std::uint64_t>{1});
}

TEST_CASE("luod killed while preserving files: acknowledged files stay, the unfinished ones are resolved with the kernel "
          "at the restart",
          "[faults][preserve]")
{
    auto point = GENERATE(as<std::string>{}, "preserve-after-write-ahead", "preserve-midway");
    INFO(point);
    Luod t({}, machine());
    t.client.create_session("vm");
    UniqueFd acked = make_memfd("acked", "acknowledged");
    t.client.preserve("vm", acked.get(), "acked");
    arm(t, point);
    UniqueFd a = make_memfd("a", "first"), b = make_memfd("b", "second");
    CHECK_FALSE(dbus_error_of([&] { t.client.preserve("vm", {{a.get(), "a"}, {b.get(), "b"}}); }).empty());
    restart_after_fault(t);

    // The restart asks the kernel about each label written ahead: those it holds are kept,
    // the others dropped, and nothing is left unknown.
    bool first_made_it = point == "preserve-midway";
    CHECK(t.kernel_sessions()["vm"].size() == (first_made_it ? 2u : 1u));
    std::vector<std::string> labels;
    for (const auto& [label, token, type] : t.client.files("vm"))
        labels.push_back(label);
    CHECK(labels == (first_made_it ? std::vector<std::string>{"acked", "a"} : std::vector<std::string>{"acked"}));
    CHECK(verdict(t, "pending-files") == "missing");
    CHECK(t.luod.log().find("'b' was being preserved when luod stopped: it was not, dropped") != std::string::npos);

    std::string boot = t.model.boot_id();
    load_and_update(t);
    t.next_boot(boot);
    CHECK(retrieve_text(t, "vm", "acked") == "acknowledged");
    if (first_made_it)
        CHECK(read_all(t.client.retrieve_fd("vm", "a").get()) == "first");
    else
        CHECK(dbus_error_of([&] { t.client.retrieve_fd("vm", "a"); }) == err::kNoSuchFile);
    CHECK(dbus_error_of([&] { t.client.retrieve_fd("vm", "b"); }) == err::kNoSuchFile);
}

TEST_CASE("luod killed during the barrier or right before the reboot: the update did not happen, services resume",
          "[faults][update]")
{
    auto point = GENERATE(as<std::string>{}, "barrier", "before-reboot");
    INFO(point);
    Luod t({}, machine());
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "data");
    t.client.preserve("vm", m.get(), "m");
    arm(t, point);
    SignalRecorder signals(t.bus.address());
    std::string boot = t.model.boot_id();
    auto& mgr = t.client.manager();
    t.client.load_kernel(t.kernel_image());
    (void)dbus_error_of([&] {
        mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    });
    restart_after_fault(t);
    REQUIRE(signals.wait_for("prepare false"));
    CHECK(signals.wait_for("failed luod stopped during the update"));
    CHECK(t.model.boot_id() == boot);
    CHECK(last_update(t)["result"] == "failed");
    CHECK(t.client.manager_string("State") == "loaded");
    CHECK(t.kernel_sessions()["vm"] == std::vector<std::uint64_t>{1});
    // And the next attempt goes through.
    mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    t.next_boot(boot);
    CHECK(retrieve_text(t, "vm", "m") == "data");
}

TEST_CASE("luod killed while it syncs before telling the services: no update began, nothing to undo",
          "[faults][update]")
{
    Luod t({}, machine());
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "data");
    t.client.preserve("vm", m.get(), "m");
    arm(t, "presync");
    SignalRecorder signals(t.bus.address());
    std::string boot = t.model.boot_id();
    auto& mgr = t.client.manager();
    t.client.load_kernel(t.kernel_image());
    std::string before = t.client.last_update();
    (void)dbus_error_of([&] {
        mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    });
    restart_after_fault(t);
    CHECK(t.client.manager_string("State") == "loaded");
    // Nothing was recorded and nobody was told: no report, no PrepareForUpdate either way.
    CHECK(t.client.last_update() == before);
    CHECK(t.luod.log().find("did not happen") == std::string::npos);
    CHECK(signals.events().empty());
    CHECK(t.model.boot_id() == boot);
    CHECK(t.kernel_sessions()["vm"] == std::vector<std::uint64_t>{1});
    mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    t.next_boot(boot);
    CHECK(retrieve_text(t, "vm", "m") == "data");
}

TEST_CASE("a sync(2) before the barrier that never returns: Cancel ends the update, luod serves and stops, "
          "the next update is refused until the sync returns",
          "[faults][update]")
{
    Luod t({}, machine());
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "data");
    t.client.preserve("vm", m.get(), "m");
    t.luod.stop(SIGTERM);
    t.luod.options().env = {"LUOD_FAULT_STALL=presync"};
    t.luod.start();
    SignalRecorder signals(t.bus.address());
    std::string boot = t.model.boot_id();
    auto& mgr = t.client.manager();
    t.client.load_kernel(t.kernel_image());
    mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    CHECK(eventually([&] { return t.luod.log().find("fault point 'presync': stalling") != std::string::npos; }));
    CHECK(t.client.manager_string("State") == "preparing");
    mgr.callMethod("Cancel").onInterface(dbus::kManagerInterface);
    CHECK(t.client.manager_string("State") == "loaded");
    // luod's loop answers while the sync's thread is stuck; the services were told only
    // that the update failed, never to prepare for it.
    CHECK(dbus_error_of([&] { t.client.get_session("vm"); }).empty());
    CHECK(signals.wait_for("failed"));
    for (const std::string& event : signals.events())
        CHECK(event.starts_with("failed"));
    DbusFailure refused = dbus_failure_of([&] {
        mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    });
    CHECK(refused.name == dbus::error::kUpdateInProgress);
    CHECK(refused.message.find("sync(2) of a cancelled update has not returned") != std::string::npos);
    CHECK(t.client.manager_string("State") == "loaded");
    CHECK(t.model.boot_id() == boot);
    // A dry run syncs nothing: the stuck sync does not hold it back, and the sync's end,
    // whenever it comes, belongs to the cancelled update, not to it.
    mgr.callMethod("Update")
        .onInterface(dbus::kManagerInterface)
        .withArguments(std::map<std::string, sdbus::Variant>{{"DryRun", sdbus::Variant(true)}});
    CHECK(eventually([&] { return t.client.manager_string("State") == "loaded" &&
                                  last_update(t)["result"] == "dry-run"; }));
    CHECK(t.model.boot_id() == boot);
    // A stuck sync holds neither luod's stop nor its sessions.
    CHECK(t.luod.stop(SIGTERM) == 0);
    t.luod.options().env.clear();
    t.luod.start();
    CHECK(t.kernel_sessions()["vm"] == std::vector<std::uint64_t>{1});
    mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    t.next_boot(boot);
    CHECK(retrieve_text(t, "vm", "m") == "data");
}

TEST_CASE("a kexec_file_load that never returns: luod answers meanwhile, refuses another load, an unload and "
          "an update with a clear error, and stops",
          "[faults][update]")
{
    Luod t({}, machine());
    t.luod.stop(SIGTERM);
    t.luod.options().env = {"LUOD_FAULT_STALL=kernel-load"};
    t.luod.start();
    std::string kernel = t.kernel_image();
    auto first_load = std::async(std::launch::async, [&] {
        LuodClient other(t.bus.address());
        return dbus_failure_of([&] { other.load_kernel(kernel); });
    });
    REQUIRE(eventually([&] { return t.luod.log().find("fault point 'kernel-load': stalling") != std::string::npos; }));
    // The loop is free: calls are answered while the load's thread is stuck in the kernel.
    CHECK(t.client.manager_string("State") == "idle");
    t.client.create_session("vm");
    auto& mgr = t.client.manager();
    std::vector<std::function<void()>> refused_calls{
        [&] { t.client.load_kernel(kernel); },
        [&] { mgr.callMethod("UnloadKernel").onInterface(dbus::kManagerInterface); },
        [&] {
            mgr.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(
                std::map<std::string, sdbus::Variant>{});
        },
    };
    for (const auto& call : refused_calls) {
        DbusFailure refused = dbus_failure_of(call);
        CHECK(refused.name == err::kUpdateInProgress);
        CHECK(refused.message.find("a kernel is being loaded") != std::string::npos);
    }
    CHECK(t.client.manager_string("State") == "idle");
    // A stuck load holds neither luod's stop nor its sessions; its caller is not left waiting.
    CHECK(t.luod.stop(SIGTERM) == 0);
    CHECK_FALSE(first_load.get().name.empty());
    t.luod.options().env.clear();
    t.luod.start();
    CHECK(t.kernel_sessions().count("vm") == 1);
    t.client.load_kernel(kernel);
    CHECK(t.client.manager_string("State") == "loaded");
}

TEST_CASE("luod killed while restoring after the kexec: the next start restores everything", "[faults][restore]")
{
    auto point = GENERATE(as<std::string>{}, "restore-after-retrieve", "restore-midway", "restore-before-finish");
    INFO(point);
    Luod t({}, machine());
    REQUIRE(t.nobody_preserves("nobodys", "data", "owned by nobody"));
    std::string boot = t.model.boot_id();
    load_and_update(t);
    t.luod.options().env = {"LUOD_FAULT=" + point};
    t.next_boot(boot, false);
    restart_after_fault(t);

    CHECK(t.client.session_property_string("nobodys", "Kind") == "incoming");
    CHECK(run_as_uid(other_uid(), [&] {
              LuodClient c(t.bus.address());
              return dbus_error_of([&] { c.get_session("nobodys"); }) == err::kNoSuchSession ? 0 : 1;
          }) == 0);
    CHECK(run_as_nobody([&] {
              Client c = Client::connect(t.bus.address());
              ClientSession s = c.retrieve_session("nobodys");
              std::string text = read_all(s.retrieve("data").get());
              s.finish();
              return text == "owned by nobody" ? 0 : 1;
          }) == 0);
    CHECK(eventually([&] { return t.client.manager_string("State") == "idle"; }));
    CHECK(json::parse(t.client.last_update())["result"] == "success");
    auto status = json::parse(model::status_json(t.model.root()));
    for (const auto& s : status["incoming"])
        CHECK(s["name"] != "luod");  // luod's session from before was let go
}

#endif  // LUOD_FAULT_INJECTION

TEST_CASE("clients crashing at each step release nothing: a delay lock, a claimed session", "[faults][clients]")
{
    Luod t({}, machine());
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "state");
    t.client.preserve("vm", m.get(), "m");
    // A client holding a delay lock dies during the barrier: the update goes on at once.
    ReadySignal locked;
    pid_t holder = spawn([&]() -> int {
        Client c = Client::connect(t.bus.address());
        UniqueFd lock = c.inhibit("crashing client", "it will die");
        locked.notify();
        sleep_forever();
    });
    REQUIRE(locked.wait());
    std::string boot = t.model.boot_id();
    auto& mgr = t.client.manager();
    t.client.load_kernel(t.kernel_image());
    mgr.callMethod("Update").onInterface(dbus::kManagerInterface)
        .withArguments(std::map<std::string, sdbus::Variant>{{"DelayTimeoutUSec", sdbus::Variant(std::uint64_t{60000000})}});
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "preparing"; }));
    ::kill(holder, SIGKILL);
    wait_exit(holder);
    t.next_boot(boot);
    // The owner claims its session and dies before finishing: it claims it again later.
    CHECK(run_in_child([&] {
              Client c = Client::connect(t.bus.address());
              c.retrieve_session("vm");
              ::kill(::getpid(), SIGKILL);
              return 0;
          }) == 128 + SIGKILL);
    CHECK(t.client.session_property_string("vm", "State") == "retrieved");
    CHECK(retrieve_text(t, "vm", "m") == "state");
    t.client.finish("vm");
    CHECK(t.luod.log().find("session 'vm' finished") != std::string::npos);
}

TEST_CASE("a kernel whose handover data is corrupt: luod runs, says the device is unavailable, changes nothing",
          "[faults][handover]")
{
    TempDir scratch;
    auto blob = scratch.path() / "corrupt";
    {
        std::ofstream out(blob, std::ios::binary);
        out << std::string(8192, '\xa5');
    }
    Luod t({}, ModelOptions("7.2", "kho=on liveupdate=on", {"--handover-file", blob.native()}));
    CHECK(t.luod.alive());
    CHECK(dbus_error_of([&] { t.client.create_session("x"); }) == err::kDeviceUnavailable);
    CHECK(verdict(t, "device") == "fail");
    CHECK(t.luod.log().find("EIO") != std::string::npos);
}
