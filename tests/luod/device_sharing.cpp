// SPDX-License-Identifier: Apache-2.0
// /dev/liveupdate is shared with PID 1 (issue 11): the open is exclusive, and systemd opens
// the device at boot, at every start of a LUOSession= unit and in systemd-shutdown. The
// test process plays PID 1: it opens the model's device (the model refuses a second opener
// with EBUSY, as the kernel does) and must always get it while luod is idle, and luod must
// wait out a brief holder and name one that keeps it.
#include "luo_catch.h"
#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "eventually.h"
#include "fixture.h"
#include "luo/dbus_api.h"
#include "luo/device.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;

namespace {

// PID 1's open: 0 when it got the device (and closed it again), else the errno.
int stand_in_opens(const Luod& t)
{
    return errno_of([&] { Device::open(t.model.root()); });
}

std::size_t count(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("device sharing: a PID 1 stand-in gets /dev/liveupdate whenever luod is idle", "[device]")
{
    Luod t;
    CHECK(stand_in_opens(t) == 0);  // after luod's start-up (probe, its own session)
    t.client.create_session("vm");
    CHECK(stand_in_opens(t) == 0);
    UniqueFd m = make_memfd("m", "guest");
    t.client.preserve("vm", m.get(), "ram");
    CHECK(stand_in_opens(t) == 0);
    t.client.close("vm");
    CHECK(stand_in_opens(t) == 0);
    // A restart restores from the fd store without keeping the device either.
    t.luod.stop();
    t.luod.start();
    CHECK(stand_in_opens(t) == 0);
    CHECK(t.client.manager_string("Backend") == "model");
}

TEST_CASE("device sharing: while the stand-in holds the device, sessions luod has keep working", "[device]")
{
    Luod t;
    t.client.create_session("vm");
    Device held = Device::open(t.model.root());
    // Preserving, listing and reading files need only the session fds, not the device.
    UniqueFd m = make_memfd("m", "guest");
    CHECK(t.client.preserve("vm", m.get(), "ram") == 1);
    CHECK(t.client.list_session_names() == std::vector<std::string>{"vm"});
    CHECK(t.client.files("vm").size() == 1);
    held.close();
    CHECK(t.kernel_sessions()["vm"] == std::vector<std::uint64_t>{1});
}

TEST_CASE("device sharing: luod waits out a brief holder, tries again and creates the session", "[device]")
{
    Luod t;
    Device held = Device::open(t.model.root());
    std::string log_before = t.luod.log();
    auto created = std::async(std::launch::async, [&] {
        LuodClient other(t.bus.address());
        return dbus_failure_of([&] { other.create_session("after-wait"); });
    });
    // The stand-in lets go once luod has found the device busy (luod logs each retry).
    REQUIRE(eventually([&] { return count(t.luod.log(), "is busy") > count(log_before, "is busy"); }));
    held.close();
    DbusFailure failure = created.get();
    CHECK(failure.name.empty());
    CHECK(t.kernel_sessions().count("after-wait") == 1);
    CHECK(stand_in_opens(t) == 0);
}

TEST_CASE("device sharing: a holder that keeps the device is named in the error, and nothing changes", "[device]")
{
    Luod t;
    t.client.create_session("before");
    Device held = Device::open(t.model.root());
    DbusFailure failure = dbus_failure_of([&] { t.client.create_session("refused"); });
    CHECK(failure.name == err::kDeviceUnavailable);
    // The holder is this process: its pid and name are in the message.
    CHECK(failure.message.find("held by pid " + std::to_string(::getpid())) != std::string::npos);
    CHECK(failure.message.find("PID 1") != std::string::npos);
    held.close();
    CHECK(t.client.list_session_names() == std::vector<std::string>{"before"});
    CHECK(t.kernel_sessions().count("refused") == 0);
    // With the device free again the same name works.
    t.client.create_session("refused");
    CHECK(t.kernel_sessions().count("refused") == 1);
}

TEST_CASE("device sharing: libluo's EBUSY names the holder", "[device]")
{
    ModelProcess model;
    Device held = Device::open(model.root());
    try {
        Device::open(model.root());
        FAIL("a second open succeeded");
    } catch (const Error& e) {
        CHECK(e.errno_value() == EBUSY);
        CHECK(std::string(e.what()).find("held by pid " + std::to_string(::getpid())) != std::string::npos);
    }
}
