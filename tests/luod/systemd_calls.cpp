// SPDX-License-Identifier: Apache-2.0
// luod's calls to systemd (issue 11, item 5) are asynchronous: a PID 1 that answers late
// (a stand-in org.freedesktop.systemd1 on the private bus that holds its replies) holds up
// no luod handler. And kexec.target jobs luod did not start (a plain `systemctl kexec`) are
// noticed: announced where systemd or the orderly strategy carries luod's sessions, and where a
// kexec stops luod (252-260 without orderly-kexec.conf) luod does it itself, holding them.
#include "luo_catch.h"
#include <sdbus-c++/sdbus-c++.h>

#include <errno.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "eventually.h"
#include "fixture.h"
#include "kill_spree_exemption.h"
#include "luo/dbus_api.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
using nlohmann::json;

namespace {

LuodOptions auto_strategy()
{
    LuodOptions o;
    o.config = "[Update]\nStrategy=auto\n";
    return o;
}

std::string strategy_check(Luod& t)
{
    std::vector<sdbus::Struct<std::string, std::string, std::string>> raw;
    t.client.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(raw);
    for (const auto& r : raw)
        if (std::get<0>(r) == "strategy")
            return std::get<1>(r) + ": " + std::get<2>(r);
    return "missing";
}

// luod knows the stand-in and picks the systemd strategy. Not just "pass": before luod has
// heard of a stand-in that appeared after it, the direct strategy passes too.
bool systemd_strategy_ready(Luod& t)
{
    return strategy_check(t) == "pass: systemd carries the sessions in luod's fd store";
}

void load_kernel(Luod& t)
{
    t.client.manager()
        .callMethod("LoadKernel")
        .onInterface(dbus::kManagerInterface)
        .withArguments(t.kernel_image(), std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
}

void update(Luod& t)
{
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(
        std::map<std::string, sdbus::Variant>{});
}

json last_update(Luod& t) { return json::parse(t.client.last_update()); }

// How many of the manifest's memfds (its index, "luod-manifest", and its log's segments,
// "luod-manifest-N") are in luod's fd store now.
std::size_t manifest_fds_in_store(Luod& t)
{
    t.luod.notify().sync();
    std::size_t n = 0;
    for (const auto& [name, fd] : t.luod.notify().copy_store())
        n += name.rfind("luod-manifest", 0) == 0;
    return n;
}

}  // namespace

TEST_CASE("systemd calls: a PID 1 that holds its answers holds up no luod handler", "[systemd]")
{
    Luod t(auto_strategy(), machine());
    SystemdStandIn systemd(t.bus.address(), "262.1-1", true);
    // luod has asked for the version and has no answer: it still answers everyone, and says
    // it does not know rather than picking a strategy.
    REQUIRE(eventually([&] { return strategy_check(t).find("has not told its version") != std::string::npos; }));
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "guest");
    t.client.preserve("vm", m.get(), "ram");
    CHECK(t.client.manager_u32("Sessions") == 1);
    systemd.hold_replies(false);
    REQUIRE(eventually([&] { return systemd_strategy_ready(t); }));

    // StartUnit unanswered: luod is rebooting and still serves its callers.
    load_kernel(t);
    std::size_t manifest_fds = manifest_fds_in_store(t);
    REQUIRE(manifest_fds >= 2);  // the index and at least one segment of the log
    systemd.hold_replies(true);
    update(t);
    REQUIRE(systemd.wait_for_kexec_request() == "replace-irreversibly");
    CHECK(t.client.manager_string("State") == "rebooting");
    // The manifest left the fd store before luod asked for the kexec (issue 11 item 3).
    CHECK(manifest_fds_in_store(t) == 0);
    CHECK(t.client.list_session_names() == std::vector<std::string>{"vm"});
    CHECK(t.client.files("vm").size() == 1);
    systemd.hold_replies(false);

    // The job luod waits for ends without a kexec (someone cancelled it): the update fails,
    // nothing is lost, and luod is ready for the next one.
    REQUIRE(eventually([&] { return t.luod.log().find("systemd started kexec.target") != std::string::npos; }));
    systemd.emit_job_removed(1, "kexec.target", "canceled");
    REQUIRE(eventually([&] { return last_update(t).value("result", "") == "failed"; }));
    CHECK(last_update(t)["reason"].get<std::string>().find("result 'canceled'") != std::string::npos);
    CHECK(t.client.manager_string("State") == "loaded");
    CHECK(t.kernel_sessions()["vm"] == std::vector<std::uint64_t>{1});
    // No kexec: the manifest is back in the fd store, so a restart of luod finds it.
    CHECK(manifest_fds_in_store(t) == manifest_fds);
    t.luod.stop(SIGKILL);
    t.luod.start();
    CHECK(t.client.files("vm").size() == 1);
    CHECK(t.luod.log().find("restored 1 sessions from the fd store") != std::string::npos);
}

TEST_CASE("systemd calls: luod is ready once it knows systemd's version, so its first answer has a strategy",
          "[systemd]")
{
    Luod t(auto_strategy(), machine());
    t.luod.stop();
    SystemdStandIn systemd(t.bus.address(), "262.1-1", true);
    t.luod.start(false);
    REQUIRE(systemd.wait_for_version_request());
    // Asked and not answered: no READY=1 yet (nor the bus name), so no caller can hear
    // "try again" from the auto strategy.
    CHECK_FALSE(t.luod.notify().wait_ready(std::chrono::milliseconds(0)));
    CHECK(t.luod.alive());
    systemd.hold_replies(false);
    REQUIRE(t.luod.notify().wait_ready(std::chrono::seconds(60)));
    CHECK(strategy_check(t).rfind("pass: systemd", 0) == 0);
    CHECK(t.luod.log().find("systemd 262.1-1") != std::string::npos);
}

TEST_CASE("systemd calls: StartUnit refused by systemd fails the update, sessions intact", "[systemd]")
{
    Luod t(auto_strategy(), machine());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    REQUIRE(eventually([&] { return systemd_strategy_ready(t); }));
    t.client.create_session("vm");
    load_kernel(t);
    systemd.refuse_start(true);
    std::size_t manifest_fds = manifest_fds_in_store(t);
    update(t);
    REQUIRE(eventually([&] { return last_update(t).value("result", "") == "failed"; }));
    CHECK(manifest_fds_in_store(t) == manifest_fds);
    CHECK(last_update(t)["reason"].get<std::string>().find("systemd refused to start kexec.target") != std::string::npos);
    CHECK(last_update(t)["reason"].get<std::string>().find("TransactionIsDestructive") != std::string::npos);
    CHECK(t.client.manager_string("State") == "loaded");
    CHECK(t.kernel_sessions().count("vm") == 1);
}

TEST_CASE("systemctl kexec on systemd 252 without orderly-kexec.conf: stopped by it, luod does the kexec itself with its "
          "sessions",
          "[systemd]")
{
    // luod's unit is stopped by the kexec (here luod cannot tell that it is not, which is
    // the same): cancelling the job would not stop the rest of the transaction (seen on a
    // real 252), so luod lets it be and, when the transaction stops it, does the kexec itself.
    Luod t({}, machine());
    SystemdStandIn systemd(t.bus.address(), "252.39-1~deb12u1");
    REQUIRE(eventually([&] { return t.luod.log().find("systemd 252.39-1~deb12u1 on the bus") != std::string::npos; }));
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "guest");
    t.client.preserve("vm", m.get(), "ram");
    load_kernel(t);
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "loaded"; }));
    systemd.emit_job_new(7, "kexec.target");
    REQUIRE(eventually([&] { return t.luod.log().find("when it does, luod does the kexec itself with its 1 sessions") != std::string::npos; }));
    // Other units' jobs are none of luod's business, and nothing is cancelled.
    systemd.emit_job_new(8, "reboot.target");
    CHECK(systemd.cancelled().empty());
    std::string boot = t.model.boot_id();
    ::kill(t.luod.pid(), SIGTERM);  // the transaction stops luod.service
    CHECK(t.next_boot(boot) == 128 + SIGKILL);
    CHECK(t.client.session_property_string("vm", "Kind") == "incoming");
    json report = last_update(t);
    CHECK(report["result"] == "success");
    CHECK(report["strategy"] == "direct");
    CHECK(report["sessions"] == 1);
    CHECK(report["files"] == 1);
}

TEST_CASE("systemctl kexec on systemd 262: luod lets it carry the sessions and tells its clients", "[systemd]")
{
    Luod t(auto_strategy(), machine());
    SignalRecorder signals(t.bus.address());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    REQUIRE(eventually([&] { return systemd_strategy_ready(t); }));
    t.client.create_session("vm");
    std::size_t manifest_fds = manifest_fds_in_store(t);
    systemd.emit_job_new(7, "kexec.target");
    REQUIRE(signals.wait_for("prepare true"));
    CHECK(t.luod.log().find("systemd carries luod's 1 sessions") != std::string::npos);
    CHECK(systemd.cancelled().empty());
    // luod's session carries the manifest: it leaves the fd store, which systemd-shutdown
    // would offer to the kernel a second time (issue 11 item 3).
    REQUIRE(eventually([&] { return manifest_fds_in_store(t) == 0; }));
    // The operator cancels the kexec: the manifest comes back, the clients hear it is off.
    systemd.emit_job_removed(7, "kexec.target", "canceled");
    REQUIRE(signals.wait_for("prepare false"));
    CHECK(manifest_fds_in_store(t) == manifest_fds);
    CHECK(manifest_fds >= 2);
}

TEST_CASE("systemctl kexec on systemd 262: the next boot's report says who started it (systemctl kexec), how the "
          "sessions crossed, how many, and systemd's KExecCount",
          "[systemd]")
{
    Luod t(auto_strategy(), machine());
    SignalRecorder signals(t.bus.address());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    REQUIRE(eventually([&] { return systemd_strategy_ready(t); }));
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "guest");
    t.client.preserve("vm", m.get(), "ram");
    systemd.emit_job_new(7, "kexec.target");
    REQUIRE(signals.wait_for("prepare true"));
    systemd.kexec(t.model, t.luod);
    CHECK(systemd.lost().empty());
    t.luod.start();
    CHECK(t.client.session_property_string("vm", "Kind") == "incoming");
    REQUIRE(eventually([&] { return last_update(t).contains("systemd"); }));
    json report = last_update(t);
    CHECK(report["result"] == "success");
    CHECK(report["started_by"] == "systemctl kexec");
    CHECK(report["strategy"] == "systemd");
    CHECK(report["sessions"] == 1);
    CHECK(report["files"] == 1);
    // When the job came; luod passed no barrier and called no reboot of its own.
    CHECK(report["phases"].contains("update_requested"));
    CHECK_FALSE(report["phases"].contains("barrier_passed"));
    CHECK_FALSE(report["phases"].contains("reboot_called"));
    CHECK(report["phases"].contains("restore_ready"));
    CHECK(report["systemd"]["kexec_count"] == 1);
    CHECK(report["live_update_count"] == 1);
    CHECK(t.luod.log().find("carried none of luod's state") == std::string::npos);
}

TEST_CASE("systemctl kexec on systemd 262 called off: the record of it goes, and luod's next update is its own",
          "[systemd]")
{
    Luod t(auto_strategy(), machine());
    SignalRecorder signals(t.bus.address());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    REQUIRE(eventually([&] { return systemd_strategy_ready(t); }));
    t.client.create_session("vm");
    systemd.emit_job_new(7, "kexec.target");
    REQUIRE(signals.wait_for("prepare true"));
    systemd.emit_job_removed(7, "kexec.target", "canceled");
    REQUIRE(signals.wait_for("prepare false"));
    // A restart now must not take the called-off kexec for an update that failed.
    t.luod.stop(SIGTERM);
    t.luod.start();
    CHECK(last_update(t).empty());
    CHECK(t.luod.log().find("did not happen") == std::string::npos);
    load_kernel(t);
    update(t);
    REQUIRE(systemd.wait_for_kexec_request() == "replace-irreversibly");
    systemd.kexec(t.model, t.luod);
    t.luod.start();
    REQUIRE(eventually([&] { return last_update(t).contains("systemd"); }));
    json report = last_update(t);
    CHECK(report["started_by"] == "luod");
    CHECK(report["strategy"] == "systemd");
    CHECK(report["phases"].contains("reboot_called"));
}

TEST_CASE("a kexec luod did not see on systemd 262: the report says started by unknown, counts what crossed, and luod "
          "says systemd counted kexecs that carried none of its state",
          "[systemd]")
{
    Luod t(auto_strategy(), machine());
    SystemdStandIn systemd(t.bus.address(), "262.1-1");
    systemd.count_earlier_kexecs(2);  // two kexecs before luod ran
    REQUIRE(eventually([&] { return systemd_strategy_ready(t); }));
    t.client.create_session("vm");
    UniqueFd a = make_memfd("a", "one");
    UniqueFd b = make_memfd("b", "two");
    t.client.preserve("vm", a.get(), "a");
    t.client.preserve("vm", b.get(), "b");
    // No kexec.target job: systemd stops luod and kexecs as if luod had been told nothing
    // (it was stopped first, or the kexec came from systemd-shutdown's own path).
    systemd.kexec(t.model, t.luod);
    t.luod.start();
    CHECK(t.client.session_property_string("vm", "Kind") == "incoming");
    REQUIRE(eventually([&] { return last_update(t).contains("systemd"); }));
    json report = last_update(t);
    CHECK(report["started_by"] == "unknown");
    CHECK(report["strategy"] == "");
    CHECK(report["sessions"] == 1);
    CHECK(report["files"] == 2);
    CHECK_FALSE(report["phases"].contains("update_requested"));
    CHECK(report["systemd"]["kexec_count"] == 3);
    CHECK(report["live_update_count"] == 1);
    REQUIRE(eventually([&] {
        return t.luod.log().find("systemd counts 3 kexecs since the last cold boot, luod 1 live updates: 2 kexecs "
                                 "carried none of luod's state") != std::string::npos;
    }));
}

TEST_CASE("systemctl kexec on systemd 262 before it told luod its version: the job waits for the answer, not cancelled",
          "[systemd]")
{
    // A systemd1 owner that announces a kexec job before it answered luod's version question
    // (it appeared after luod, or re-executed): luod must not take it for a systemd that
    // cannot carry sessions and cancel the operator's kexec. This was the race behind the
    // test above timing out: "pass" came from the direct strategy, before the stand-in was known.
    Luod t(auto_strategy(), machine());
    SignalRecorder signals(t.bus.address());
    t.client.create_session("vm");
    SystemdStandIn systemd(t.bus.address(), "262.1-1", false, 7);
    REQUIRE(signals.wait_for("prepare true"));
    CHECK(t.luod.log().find("kexec.target job 7 waits for systemd's version") != std::string::npos);
    CHECK(t.luod.log().find("systemd carries luod's 1 sessions") != std::string::npos);
    CHECK(systemd.cancelled().empty());
}

TEST_CASE("systemctl kexec without sessions on systemd 252: nothing to lose, luod lets it be and stops", "[systemd]")
{
    Luod t({}, machine());
    SystemdStandIn systemd(t.bus.address(), "252.39-1~deb12u1");
    REQUIRE(eventually([&] { return t.luod.log().find("systemd 252.39-1~deb12u1 on the bus") != std::string::npos; }));
    load_kernel(t);
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "loaded"; }));
    systemd.emit_job_new(7, "kexec.target");
    REQUIRE(eventually([&] {
        return t.luod.log().find("outside luod (job 7): luod has no sessions to lose") != std::string::npos;
    }));
    std::string boot = t.model.boot_id();
    CHECK(t.luod.stop(SIGTERM) == 0);
    CHECK(t.model.boot_id() == boot);
    CHECK(systemd.cancelled().empty());
    CHECK(t.luod.log().find("luod does the kexec itself") == std::string::npos);
}

TEST_CASE("orderly strategy: luod marks itself for systemd-shutdown's killing spree in its own argv[0] and unmarks",
          "[systemd]")
{
    // systemd-shutdown (252 and later) spares root processes whose /proc/PID/cmdline starts
    // with '@'; luod writes the mark into main()'s argv[0], which glibc also knows as
    // program_invocation_name: this process's own cmdline must show it, and lose it again.
    auto first_cmdline_char = [] {
        std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
        return static_cast<char>(cmdline.get());
    };
    char before = first_cmdline_char();
    REQUIRE(before != '@');
    luod::KillSpreeExemption exemption(program_invocation_name);
    REQUIRE(exemption.possible());
    CHECK(exemption.take());
    CHECK(exemption.held());
    CHECK(first_cmdline_char() == '@');
    exemption.give_back();
    CHECK_FALSE(exemption.held());
    CHECK(first_cmdline_char() == before);
    // Without an argv[0] there is nothing to mark: the orderly strategy is then refused.
    luod::KillSpreeExemption none;
    CHECK_FALSE(none.possible());
    CHECK_FALSE(none.take());
}

TEST_CASE("orderly strategy on systemd 252 for a luod whose unit a kexec may stop: refused with why, auto is direct",
          "[systemd]")
{
    // Here luod runs in no systemd unit the stand-in knows, so it cannot know that a kexec leaves it alone
    // (units/extra/orderly-kexec.conf): Strategy=orderly fails its check and an update
    // asking for it is refused with nothing changed; auto falls back to direct.
    LuodOptions o;
    o.config = "[Update]\nStrategy=orderly\n";
    Luod t(o, machine());
    SystemdStandIn systemd(t.bus.address(), "252.39-1~deb12u1");
    // Why depends on where the test runs (in no unit, or in one the stand-in knows nothing
    // of); either way luod cannot tell that a kexec spares it. (Before systemd's answers the
    // check fails too, saying luod is still asking.)
    REQUIRE(eventually([&] { return strategy_check(t).find("does not know whether a kexec stops") != std::string::npos; }));
    CHECK(strategy_check(t).rfind("fail: the orderly strategy needs systemd 252-260", 0) == 0);
    t.client.create_session("vm");
    load_kernel(t);
    auto update_with = [&](const std::string& strategy, bool dry_run) {
        return dbus_error_of([&] {
            t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(
                std::map<std::string, sdbus::Variant>{{"Strategy", sdbus::Variant(strategy)},
                                                      {"DryRun", sdbus::Variant(dry_run)}});
        });
    };
    CHECK(update_with("orderly", false) == err::kNotSupported);
    CHECK(t.client.manager_string("State") == "loaded");
    CHECK(t.kernel_sessions().count("vm") == 1);
    CHECK(update_with("auto", true).empty());
    REQUIRE(eventually([&] { return last_update(t).value("result", "") == "dry-run"; }));
    CHECK(last_update(t).value("strategy", "") == "direct");
}

TEST_CASE("systemctl kexec on systemd 252 without orderly-kexec.conf during luod's own barrier: stopped by it, luod "
          "does the kexec itself with its sessions",
          "[systemd]")
{
    // luod's own update waits for a delay inhibitor when the operator's kexec stops luod:
    // luod does not wait any longer, the kexec carries the session.
    Luod t({}, machine());
    SignalRecorder signals(t.bus.address());
    SystemdStandIn systemd(t.bus.address(), "252.39-1~deb12u1");
    REQUIRE(eventually([&] { return t.luod.log().find("systemd 252.39-1~deb12u1 on the bus") != std::string::npos; }));
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "guest");
    t.client.preserve("vm", m.get(), "ram");
    load_kernel(t);
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "loaded"; }));
    sdbus::UnixFd lock;
    t.client.manager()
        .callMethod("Inhibit")
        .onInterface(dbus::kManagerInterface)
        .withArguments(std::string("update"), std::string("test"), std::string("holding on"), std::string("delay"))
        .storeResultsTo(lock);
    update(t);
    REQUIRE(signals.wait_for("prepare true"));
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "preparing"; }));
    systemd.emit_job_new(7, "kexec.target");
    REQUIRE(eventually([&] { return t.luod.log().find("when it does, luod does the kexec itself with its 1 sessions") != std::string::npos; }));
    std::string boot = t.model.boot_id();
    ::kill(t.luod.pid(), SIGTERM);  // the transaction stops luod.service
    CHECK(t.next_boot(boot) == 128 + SIGKILL);
    CHECK(t.client.session_property_string("vm", "Kind") == "incoming");
    json report = last_update(t);
    CHECK(report["result"] == "success");
    CHECK(report["strategy"] == "direct");
    CHECK(report["sessions"] == 1);
    CHECK(report["phases"].contains("update_requested"));
}
