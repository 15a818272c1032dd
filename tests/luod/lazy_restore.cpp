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

using namespace luo;
using namespace luo::test;

namespace {

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
    std::string image = t.kernel_image();
    t.client.manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
        .withArguments(image, std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
    std::string boot = t.model.boot_id();
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface)
        .withArguments(std::map<std::string, sdbus::Variant>{});
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
