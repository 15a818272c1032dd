// SPDX-License-Identifier: Apache-2.0
// What services and operators use against a running luod: luoctl (output, JSON keys, exit
// codes), the luo::Client library, and the luo-cache-service example.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include "luo_catch.h"
#include <nlohmann/json.hpp>

#include "eventually.h"
#include "fixture.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/model_control.h"
#include <sdbus-c++/sdbus-c++.h>

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
using nlohmann::json;

namespace {

ProgramResult luoctl(const Luod& t, std::vector<std::string> args)
{
    args.insert(args.begin(), built_program("luoctl").native());
    return run_program(args, {"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()});
}

// luoctl as another uid: a copy that uid can reach (the build tree may be closed to it).
ProgramResult luoctl(const Luod& t, const ReachableProgram& copy, std::vector<std::string> args)
{
    args.insert(args.begin(), copy.path().native());
    return run_program(args, {"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address(), copy.library_path()});
}

std::string client_error_of(const std::function<void()>& call)
{
    try {
        call();
    } catch (const ClientError& e) {
        return e.name();
    }
    return "";
}

}  // namespace

TEST_CASE("luoctl status --json shows backend, state and counts with stable keys", "[luoctl]")
{
    Luod t;
    t.client.create_session("vm");
    ProgramResult r = luoctl(t, {"status", "--json"});
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    json j = json::parse(r.out);
    CHECK(j["backend"] == "model");
    CHECK(j["state"] == "idle");
    CHECK(j["sessions"] == 1);
    CHECK(j["incoming_sessions"] == 0);
    CHECK(j["kexec_loaded"] == false);
    CHECK(j["live_update_count"] == 0);
    CHECK(j["kernel_features"].size() >= 2);
    for (const char* key : {"version", "kernel_state"})
        CHECK(j.contains(key));
    // --json also before the verb; human output otherwise.
    CHECK(json::parse(luoctl(t, {"--json", "status"}).out)["sessions"] == 1);
    ProgramResult human = luoctl(t, {"status"});
    CHECK(human.status == 0);
    CHECK(human.out.find("model") != std::string::npos);
}

TEST_CASE("luoctl sessions and session NAME list sessions and files", "[luoctl]")
{
    Luod t;
    t.client.create_session("vm");
    UniqueFd m = make_memfd("ram", "x");
    t.client.preserve("vm", m.get(), "ram");
    json list = json::parse(luoctl(t, {"sessions", "--json"}).out);
    REQUIRE(list.size() == 1);
    CHECK(list[0]["name"] == "vm");
    CHECK(list[0]["kind"] == "outgoing");
    CHECK(list[0]["owner_uid"] == 0);
    CHECK(list[0]["path"] == t.client.get_session("vm"));
    json one = json::parse(luoctl(t, {"session", "vm", "--json"}).out);
    CHECK(one["state"] == "open");
    CHECK(one["file_count"] == 1);
    CHECK(one["files"] == json::array({{{"label", "ram"}, {"token", 1}, {"type", "memfd"}}}));
    CHECK(luoctl(t, {"session", "vm"}).out.find("ram") != std::string::npos);
}

TEST_CASE("luoctl exit codes: not found 5, denied 4, usage 2, luod unreachable 3", "[luoctl]")
{
    Luod t;
    t.client.create_session("roots");
    ProgramResult missing = luoctl(t, {"session", "nope", "--json"});
    CHECK(missing.status == 5);
    CHECK(missing.out.empty());
    CHECK(missing.err.find(err::kNoSuchSession) != std::string::npos);
    CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
    CHECK(luoctl(t, {"frobnicate"}).status == 2);
    CHECK(luoctl(t, {"session"}).status == 2);
    CHECK(luoctl(t, {"--help"}).status == 0);
    // Another owner's session is "not found" to a user (luod tells them nothing of it); a
    // root-only command is "denied". nobody runs a copy it can reach, wherever the build tree is.
    ReachableProgram luoctl_copy("luoctl");
    CHECK(run_as_nobody([&] { return luoctl(t, luoctl_copy, {"session", "roots"}).status; }) == 5);
    CHECK(run_as_nobody([&] { return luoctl(t, luoctl_copy, {"inhibitors"}).status; }) == 4);
    t.luod.stop(SIGTERM);
    CHECK(luoctl(t, {"status"}).status == 3);
    CHECK(run_program({built_program("luoctl").native(), "status"},
                      {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/socket"})
              .status == 3);
}

TEST_CASE("luo::Client creates, reopens, preserves and closes sessions", "[client]")
{
    Luod t;
    Client c = Client::connect(t.bus.address());
    Client::Opened how{};
    ClientSession s = c.open_session("svc", &how);
    CHECK(how == Client::Opened::created);
    UniqueFd a = make_memfd("a", "A"), b = make_memfd("b", "B");
    CHECK(s.preserve(a.get(), "a") == 1);
    CHECK(s.preserve({{b.get(), "b"}}) == std::vector<std::uint64_t>{2});
    CHECK(s.kind() == "outgoing");
    CHECK(s.files().size() == 2);
    ClientSession again = c.open_session("svc", &how);
    CHECK(how == Client::Opened::reopened);
    CHECK(again.files().size() == 2);
    CHECK(c.list_sessions().size() == 1);
    CHECK(c.state() == "idle");
    CHECK(client_error_of([&] { c.create_session("svc"); }) == err::kSessionExists);
    CHECK(client_error_of([&] { s.preserve(a.get(), "a-again"); }) == err::kFileAlreadyPreserved);
    CHECK(client_error_of([&] { s.retrieve("a"); }) == err::kInvalidState);
    again.close();
    CHECK(c.list_sessions().empty());
    t.luod.notify().sync();
    CHECK(t.kernel_sessions().count("svc") == 0);
}

TEST_CASE("luo::Client refuses more than 16 files in one call before sending anything", "[client]")
{
    Luod t;
    Client c = Client::connect(t.bus.address());
    ClientSession s = c.create_session("batch");
    std::vector<UniqueFd> memfds;
    std::vector<std::pair<int, std::string>> batch;
    for (int i = 0; i < 17; ++i) {
        memfds.push_back(make_memfd("m"));
        batch.emplace_back(memfds.back().get(), "f" + std::to_string(i));
    }
    CHECK(client_error_of([&] { s.preserve(batch); }) == err::kInvalidArgs);
    CHECK(s.files().empty());  // the connection is still usable
    batch.pop_back();
    CHECK(s.preserve(batch).size() == 16);
}

TEST_CASE("luo-cache-service keeps its cache in a luod session", "[example]")
{
    Luod t;
    std::vector<std::string> env{"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()};
    auto service = built_program("luo-cache-service").native();
    ProgramResult first = run_program({service, "--session", "cache", "--updates", "3", "--interval-ms", "1",
                                       "--size-mib", "1"},
                                      env);
    INFO(first.out << first.err);
    REQUIRE(first.status == 0);
    CHECK(t.client.files("cache") == std::vector<std::tuple<std::string, std::uint64_t, std::string>>{
                                         {"cache", 1, "memfd"}});
    // The service is gone; luod keeps the session and the kernel keeps the cache.
    CHECK(t.kernel_sessions()["cache"] == std::vector<std::uint64_t>{1});
    CHECK(run_program({service, "--updates", "-1"}, env).status == 2);
}

namespace {

// Whether some delay inhibitor is held, as Check() reports it.
bool holds_delay_lock(Luod& t)
{
    std::vector<sdbus::Struct<std::string, std::string, std::string>> results;
    t.client.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(results);
    for (const auto& r : results)
        if (std::get<0>(r) == "inhibitors")
            return std::get<2>(r).rfind("0 delay", 0) != 0;
    return false;
}

}  // namespace

TEST_CASE("luoctl load, check, update --wait and report drive a whole live update", "[luoctl][update]")
{
    Luod t({}, machine());
    t.client.create_session("vm");
    UniqueFd m = make_memfd("m", "x");
    t.client.preserve("vm", m.get(), "m");

    ProgramResult not_loaded = luoctl(t, {"check", "--json"});
    CHECK(not_loaded.status == 6);
    CHECK(json::parse(not_loaded.out)["ok"] == false);
    CHECK(luoctl(t, {"update"}).status == 1);  // NotLoaded

    ProgramResult load = luoctl(t, {"load", t.kernel_image(), "--append", "quiet", "--json"});
    REQUIRE(load.status == 0);
    CHECK(json::parse(load.out)["loaded"] == true);
    ProgramResult check = luoctl(t, {"check", "--json"});
    CHECK(check.status == 0);
    CHECK(json::parse(check.out)["ok"] == true);
    CHECK(json::parse(luoctl(t, {"status", "--json"}).out)["state"] == "loaded");

    std::string boot = t.model.boot_id();
    BackgroundProgram update({built_program("luoctl").native(), "update", "--wait", "--json"},
                             {"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()});
    CHECK(t.next_boot(boot) == 128 + SIGKILL);
    ProgramResult done = update.finish();
    INFO(done.err);
    REQUIRE(done.status == 0);
    json report = json::parse(done.out);
    CHECK(report["result"] == "success");
    CHECK(report["live_update_count"] == 1);
    json whole = json::parse(t.client.last_update());
    CHECK(json::parse(luoctl(t, {"report", "--json"}).out) == whole);
    CHECK(luoctl(t, {"report"}).out.find("success") != std::string::npos);
}

TEST_CASE("luoctl update exit codes: checks failed 6, busy 8, failed or cancelled 7", "[luoctl][update]")
{
    Luod t({}, machine());
    std::vector<std::string> env{"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()};
    auto luoctl_path = built_program("luoctl").native();
    CHECK(luoctl(t, {"update"}).status == 1);  // NotLoaded
    REQUIRE(luoctl(t, {"load", t.kernel_image(), "--no-liveupdate-flags"}).status == 0);
    CHECK(luoctl(t, {"update", "--json"}).status == 6);  // the next kernel would lose the sessions
    REQUIRE(luoctl(t, {"load", t.kernel_image()}).status == 0);

    // A delay lock held by a command run under `luoctl inhibit` times the barrier out.
    BackgroundProgram holder({luoctl_path, "inhibit", "--why", "busy", "--", "/bin/sleep", "60"}, env);
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "loaded" && holds_delay_lock(t); }));
    ProgramResult timed_out = luoctl(t, {"update", "--wait", "--timeout", "0.3"});
    CHECK(timed_out.status == 7);
    CHECK(json::parse(t.client.last_update())["result"] == "failed");

    BackgroundProgram waiting({luoctl_path, "update", "--wait", "--timeout", "60", "--json"}, env);
    REQUIRE(eventually([&] { return t.client.manager_string("State") == "preparing"; }));
    CHECK(luoctl(t, {"update"}).status == 8);  // UpdateInProgress
    CHECK(luoctl(t, {"cancel"}).status == 0);
    ProgramResult cancelled = waiting.finish();
    CHECK(cancelled.status == 7);
    CHECK(json::parse(cancelled.out)["result"] == "cancelled");

    holder.terminate();
    REQUIRE(eventually([&] { return !holds_delay_lock(t); }));
    ProgramResult dry = luoctl(t, {"update", "--dry-run", "--wait", "--json"});
    CHECK(dry.status == 0);
    CHECK(json::parse(dry.out)["result"] == "dry-run");
}

TEST_CASE("luoctl inhibit holds a delay lock while its command runs and returns its status", "[luoctl]")
{
    Luod t;
    ProgramResult r = luoctl(t, {"inhibit", "--why", "test", "--json", "--", "/bin/sh", "-c", "exit 3"});
    CHECK(r.status == 3);
    CHECK(json::parse(r.out)["exit_status"] == 3);
    CHECK(luoctl(t, {"inhibit", "--why", "test", "--", "/nonexistent/command"}).status == 127);
    CHECK(luoctl(t, {"inhibit", "--", "/bin/true"}).status == 2);  // --why is required
}

TEST_CASE("luoctl load --json reports the command line loaded, and --reuse-cmdline drops BOOT_IMAGE=", "[luoctl][load]")
{
    Luod t({}, machine());
    std::filesystem::path running = t.model.root() / "proc/cmdline";
    std::filesystem::permissions(running, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    {
        std::ofstream out(running, std::ios::trunc);
        out << "BOOT_IMAGE=/boot/vmlinuz-7.2 root=/dev/vda1 kho=on liveupdate=on quiet\n";
    }
    ProgramResult loaded = luoctl(t, {"load", t.kernel_image(), "--reuse-cmdline", "--append", "console=ttyS0", "--json"});
    INFO(loaded.err);
    REQUIRE(loaded.status == 0);
    CHECK(json::parse(loaded.out)["cmdline"] == "root=/dev/vda1 kho=on liveupdate=on quiet console=ttyS0");
    CHECK(t.client.manager_string("LoadedCmdline") == "root=/dev/vda1 kho=on liveupdate=on quiet console=ttyS0");
    ProgramResult plain = luoctl(t, {"load", t.kernel_image(), "--append", "console=ttyS0", "--json"});
    CHECK(json::parse(plain.out)["cmdline"] == "console=ttyS0 kho=on liveupdate=on");
    CHECK(luoctl(t, {"unload"}).status == 0);
    CHECK(t.client.manager_string("LoadedCmdline").empty());
}

TEST_CASE("luoctl inhibit --json: stdout is one JSON document, the command's output goes to stderr", "[luoctl]")
{
    Luod t;
    ProgramResult r = luoctl(t, {"inhibit", "--json", "--why", "test", "--", "/bin/sh", "-c", "echo from-the-command; exit 3"});
    CHECK(r.status == 3);
    json document = json::parse(r.out);  // throws if the command's line were mixed in
    CHECK(document["exit_status"] == 3);
    CHECK(r.err.find("from-the-command") != std::string::npos);
    // Without --json the command writes where it always does.
    ProgramResult text = luoctl(t, {"inhibit", "--why", "test", "--", "/bin/echo", "plain"});
    CHECK(text.out == "plain\n");
}

TEST_CASE("luoctl --timeout: luod's rule, stated in seconds", "[luoctl][update]")
{
    Luod t({}, machine());
    ProgramResult over = luoctl(t, {"update", "--timeout", "86401"});
    CHECK(over.status == 2);
    CHECK(over.err.find("must be at most a day (86400 s)") != std::string::npos);
    ProgramResult negative = luoctl(t, {"update", "--timeout", "-1"});
    CHECK(negative.status == 2);
    CHECK(luoctl(t, {"update", "--timeout", "nan"}).status == 2);
    // What luoctl accepts at the bound, luod accepts too (it fails later: no kernel loaded).
    ProgramResult bound = luoctl(t, {"update", "--timeout", "86400"});
    CHECK(bound.status == 1);
    CHECK(bound.err.find("NotLoaded") != std::string::npos);
}

TEST_CASE("luoctl inhibitors and close: root sees who holds what and closes a stuck session, others are told they "
          "need root",
          "[luoctl][operator]")
{
    Luod t({}, machine());
    std::vector<std::string> env{"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()};
    BackgroundProgram holder({built_program("luoctl").native(), "inhibit", "--who", "vmm", "--why", "saving state", "--",
                              "/bin/sleep", "60"},
                             env);
    REQUIRE(eventually([&] { return holds_delay_lock(t); }));
    ProgramResult listed = luoctl(t, {"inhibitors", "--json"});
    INFO(listed.err);
    REQUIRE(listed.status == 0);
    json inhibitors = json::parse(listed.out);
    REQUIRE(inhibitors.size() == 1);
    CHECK(inhibitors[0]["who"] == "vmm");
    CHECK(inhibitors[0]["why"] == "saving state");
    CHECK(inhibitors[0]["mode"] == "delay");
    CHECK(inhibitors[0]["uid"] == 0);
    CHECK(luoctl(t, {"inhibitors"}).out.find("vmm  delay") != std::string::npos);

    t.client.create_session("stuck");
    ReachableProgram luoctl_copy("luoctl");
    int others = run_as_nobody([&] {
        ProgramResult list = luoctl(t, luoctl_copy, {"inhibitors"});
        ProgramResult close = luoctl(t, luoctl_copy, {"close", "stuck"});
        ProgramResult load = luoctl(t, luoctl_copy, {"load", "/nonexistent"});
        bool ok = list.status == 4 && list.err.find("needs root") != std::string::npos &&
                  list.err.find("Rejected send message") == std::string::npos &&
                  close.status == 5 &&  // another owner's session is as good as absent
                  load.status == 4 && load.err.find("needs root") != std::string::npos;
        if (!ok)
            std::fprintf(stderr, "%s%s%s", list.err.c_str(), close.err.c_str(), load.err.c_str());
        return ok ? 0 : 1;
    });
    CHECK(others == 0);
    CHECK(t.client.list_session_names() == std::vector<std::string>{"stuck"});
    ProgramResult closed = luoctl(t, {"close", "stuck"});
    CHECK(closed.status == 0);
    CHECK(closed.out == "session 'stuck' closed\n");
    CHECK(t.client.list_session_names().empty());
    CHECK(luoctl(t, {"close", "stuck"}).status == 5);
    holder.terminate();
}

TEST_CASE("luoctl update --wait prints the states it passes through on stderr", "[luoctl][update][progress]")
{
    Luod t({}, machine());
    std::vector<std::string> env{"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()};
    REQUIRE(luoctl(t, {"load", t.kernel_image()}).status == 0);
    BackgroundProgram holder({built_program("luoctl").native(), "inhibit", "--why", "busy", "--", "/bin/sleep", "60"},
                             env);
    REQUIRE(eventually([&] { return holds_delay_lock(t); }));
    // The barrier is held for the whole timeout: luoctl polls every 0.1 s meanwhile.
    ProgramResult r = luoctl(t, {"update", "--wait", "--timeout", "5"});
    CHECK(r.status == 7);
    CHECK(r.err.find("luoctl: state preparing\n") != std::string::npos);
    CHECK(r.err.find("timed out after 5 s") != std::string::npos);
    holder.terminate();
}
