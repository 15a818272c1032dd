// SPDX-License-Identifier: Apache-2.0
// Restart safety: luod keeps its session fds and manifest in the service manager's fd store
// (here a harness speaking systemd's protocol), so stopping or killing it loses nothing.
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "luo_catch.h"

#include "fd_store.h"
#include "fixture.h"
#include "luo/dbus_api.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;

namespace {

std::string stored_name(const std::string& session)
{
    return luod::FdStore::session_name(SessionKind::outgoing, session);
}

using Files = std::vector<std::tuple<std::string, std::uint64_t, std::string>>;

void populate(LuodClient& c, std::vector<UniqueFd>& keep)
{
    c.create_session("vm-a");
    c.create_session("vm-b");
    c.create_session("empty");
    keep.push_back(make_memfd("ram-a", "memory of a"));
    c.preserve("vm-a", keep.back().get(), "ram");
    keep.push_back(make_memfd("ram-b", "memory of b"));
    keep.push_back(make_memfd("rom-b", "rom of b"));
    c.preserve("vm-b", {{keep[1].get(), "ram"}, {keep[2].get(), "rom"}});
}

}  // namespace

TEST_CASE("every session, owner and label survives a luod restart, clean or killed", "[luod][restart]")
{
    int signal = GENERATE(SIGTERM, SIGKILL);
    Luod t;
    std::vector<UniqueFd> keep;
    populate(t.client, keep);
    auto before_kernel = t.kernel_sessions();
    Files a = t.client.files("vm-a"), b = t.client.files("vm-b");
    // Every session and the manifest went into the store.
    CHECK(t.luod.notify().stored("luod-manifest") == 1);
    CHECK(t.luod.notify().stored(stored_name("vm-a")) == 1);

    int status = t.luod.stop(signal);
    CHECK(status == (signal == SIGTERM ? 0 : 128 + SIGKILL));
    // While luod is down the kernel still has everything: the store holds the fds.
    CHECK(t.kernel_sessions() == before_kernel);

    t.luod.start();
    LuodClient after(t.bus.address());
    auto names = after.list_session_names();
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"empty", "vm-a", "vm-b"});
    CHECK(after.files("vm-a") == a);
    CHECK(after.files("vm-b") == b);
    CHECK(t.kernel_sessions() == before_kernel);
    // Tokens continue where they were.
    keep.push_back(make_memfd("disk", "d"));
    CHECK(after.preserve("vm-b", keep.back().get(), "disk") == 3);
    // And the restarted luod did not put the sessions in the store twice.
    CHECK(t.luod.notify().stored(stored_name("vm-a")) == 1);
}

TEST_CASE("a session closed before a restart stays closed after it", "[luod][restart]")
{
    Luod t;
    t.client.create_session("gone");
    t.client.create_session("kept");
    t.client.close("gone");
    t.luod.notify().sync();
    CHECK(t.luod.notify().stored(stored_name("gone")) == 0);
    t.luod.stop(SIGKILL);
    t.luod.start();
    LuodClient after(t.bus.address());
    CHECK(after.list_session_names() == std::vector<std::string>{"kept"});
    CHECK(t.kernel_sessions().count("gone") == 0);
}

TEST_CASE("a non-root owner keeps its rights over its sessions across a restart", "[luod][restart][access]")
{
    Luod t;
    CHECK(run_as_nobody([&] {
              LuodClient c(t.bus.address());
              c.create_session("nobodys");
              return 0;
          }) == 0);
    t.luod.stop(SIGKILL);
    t.luod.start();
    CHECK(run_as_nobody([&] {
              LuodClient c(t.bus.address());
              UniqueFd m = make_memfd("m");
              return dbus_error_of([&] { c.preserve("nobodys", m.get(), "m"); }).empty() ? 0 : 1;
          }) == 0);
    CHECK(run_as_uid(other_uid(), [&] {
              LuodClient c(t.bus.address());
              return dbus_error_of([&] { c.get_session("nobodys"); }) == err::kNoSuchSession ? 0 : 1;
          }) == 0);
}

TEST_CASE("without a service manager's fd store, sessions end with luod", "[luod][restart]")
{
    LuodOptions options;
    options.fd_store = false;
    Luod t(options);
    t.client.create_session("ephemeral");
    CHECK(t.kernel_sessions().count("ephemeral") == 1);
    t.luod.stop(SIGTERM);
    CHECK(t.kernel_sessions().empty());
    CHECK(t.luod.log().find("sessions end with luod") != std::string::npos);
}

TEST_CASE("a restart without the fd store is reported as a loss, loudly, and one with it, or a first start, is not",
          "[luod][restart][loss]")
{
    bool with_store = GENERATE(false, true);
    LuodOptions options;
    options.fd_store = with_store;
    Luod t(options);
    CHECK(t.luod.log().find("lost") == std::string::npos);  // a first start loses nothing
    t.client.create_session("ephemeral");
    t.client.create_session("closed");
    t.client.close("closed");  // gone on purpose: not a loss
    t.luod.stop(SIGKILL);
    t.luod.start();
    std::string log = t.luod.log();
    INFO(log);
    if (with_store) {
        CHECK(log.find("lost") == std::string::npos);
        CHECK(LuodClient(t.bus.address()).list_session_names() == std::vector<std::string>{"ephemeral"});
    } else {
        CHECK(log.find("session 'ephemeral' is lost: luod restarted and did not get it back") != std::string::npos);
        CHECK(log.find("luod restarted without a service manager's fd store and lost 1 sessions of this boot: "
                       "ephemeral") != std::string::npos);
        CHECK(log.find("message_id=8e5cc22193a64435a8a7759dcd5eb59e") != std::string::npos);
        CHECK(log.find("'closed' is lost") == std::string::npos);
        // Reported once: the next restart has nothing more to say.
        t.luod.stop(SIGTERM);
        t.luod.start();
        CHECK(t.luod.log().size() > log.size());
        CHECK(t.luod.log().substr(log.size()).find("lost") == std::string::npos);
    }
}

TEST_CASE(
    "the restart witness appends a line per change and stays bounded, and a restart still names only what was lost",
    "[luod][restart][loss]")
{
    LuodOptions options;
    options.fd_store = false;
    Luod t(options);
    auto witness = t.model.root() / "run/luod/sessions";
    auto lines = [&] {
        std::ifstream in(witness);
        std::size_t n = 0;
        for (std::string line; std::getline(in, line);)
            ++n;
        return n;
    };
    t.client.create_session("kept");
    std::size_t before = lines();
    t.client.create_session("added");
    CHECK(lines() == before + 1);  // appended, not rewritten
    t.client.close("added");
    CHECK(lines() == before + 2);
    // Many changes: rewritten whole once the log holds far more lines than live names.
    for (int i = 0; i < 200; ++i) {
        t.client.create_session("churn");
        t.client.close("churn");
    }
    t.client.create_session("late");
    CHECK(lines() <= 1 + 2 * 2 + 64 + 1);  // boot id, and at most 2 × live names + 64
    t.luod.stop(SIGKILL);
    t.luod.start();
    std::string log = t.luod.log();
    INFO(log);
    CHECK(log.find("lost 2 sessions of this boot: kept, late") != std::string::npos);
    CHECK(log.find("'churn' is lost") == std::string::npos);
    CHECK(log.find("'added' is lost") == std::string::npos);
}

TEST_CASE("luod tells the service manager it is ready, its status, and pings the watchdog", "[luod][systemd]")
{
    LuodOptions options;
    options.watchdog = std::chrono::milliseconds(200);
    Luod t(options);
    CHECK(t.luod.notify().wait_ready(std::chrono::milliseconds(0)));  // READY=1 came already
    CHECK(t.luod.notify().status().find("sessions, kernel: model") != std::string::npos);
    // sd-event pings at half the interval; three pings show it keeps doing so.
    CHECK(t.luod.notify().wait_watchdog(3, std::chrono::seconds(30)));
}
