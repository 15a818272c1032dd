// SPDX-License-Identifier: Apache-2.0
// Who may do what: a second uid can neither see the fds of, claim, close nor preserve into
// another owner's session, cannot call root-only members (refused by luod unless polkit
// allows them), and stays within its quotas.
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include "luo_catch.h"
#include "luo-dbus/sdbus_compat.h"

#include "fixture.h"
#include "luo/dbus_api.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
// What sd-bus answers for a path with no object: also what another owner's session object answers.
constexpr const char* kUnknownObject = "org.freedesktop.DBus.Error.UnknownObject";

TEST_CASE("another uid can neither see nor touch root's session", "[luod][access]")
{
    Luod t;
    t.client.create_session("roots");
    UniqueFd secret = make_memfd("secret", "root's data");
    t.client.preserve("roots", secret.get(), "secret");
    std::string path = t.client.get_session("roots");

    int status = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        auto session = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, path);
        std::string r;
        r += expect("GetSession", dbus_error_of([&] { c.get_session("roots"); }), err::kNoSuchSession);
        r += c.list_session_names().empty() ? "" : "ListSessions shows root's session";
        r += expect("Files", dbus_error_of([&] { session->getProperty("Files").onInterface(dbus::kSessionInterface); }),
                    kUnknownObject);
        UniqueFd mine = make_memfd("mine");
        r += expect("PreserveFd", dbus_error_of([&] {
                        std::uint64_t token;
                        session->callMethod("PreserveFd").onInterface(dbus::kSessionInterface)
                            .withArguments(sdbus::UnixFd(mine.get()), std::string("intruder")).storeResultsTo(token);
                    }),
                    kUnknownObject);
        r += expect("AcquireFd", dbus_error_of([&] {
                        sdbus::UnixFd fd;
                        session->callMethod("AcquireFd").onInterface(dbus::kSessionInterface).storeResultsTo(fd);
                    }),
                    kUnknownObject);
        r += expect("Close", dbus_error_of([&] { session->callMethod("Close").onInterface(dbus::kSessionInterface); }),
                    kUnknownObject);
        r += expect("CreateSession of a taken name", dbus_error_of([&] { c.create_session("roots"); }),
                    err::kSessionExists);
        return r;
    });
    CHECK(status == 0);
    CHECK(t.client.files("roots").size() == 1);
    CHECK(t.kernel_sessions()["roots"] == std::vector<std::uint64_t>{1});
}

TEST_CASE("root-only members are refused to other uids by luod, naming the polkit action that would allow them",
          "[luod][access]")
{
    Luod t;
    // The bus lets the call through (polkit may delegate it: tests/luod/polkit.cpp); with no
    // polkit on this bus luod refuses it itself, and says what an administrator could allow.
    auto refused_by_luod = [](const std::string& what, const DbusFailure& got, const std::string& action) -> std::string {
        if (got.name != err::kAccessDenied || got.message.rfind("only root may", 0) != 0 ||
            got.message.find("org.luod.LiveUpdate1." + action) == std::string::npos)
            return what + ": got '" + got.name + ": " + got.message + "', want luod's AccessDenied; ";
        return "";
    };
    int status = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        auto p = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, dbus::kManagerPath);
        std::string r;
        r += refused_by_luod("UnloadKernel", dbus_failure_of([&] { c.call_manager("UnloadKernel"); }), "load-kernel");
        r += refused_by_luod("Cancel", dbus_failure_of([&] { c.call_manager("Cancel"); }), "update");
        r += refused_by_luod("Update", dbus_failure_of([&] {
                                 p->callMethod("Update").onInterface(dbus::kManagerInterface)
                                     .withArguments(std::map<std::string, sdbus::Variant>{});
                             }),
                             "update");
        r += refused_by_luod("LoadKernel", dbus_failure_of([&] {
                                 p->callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
                                     .withArguments(std::string("/boot/vmlinuz"), std::string(""), std::string(""),
                                                    std::map<std::string, sdbus::Variant>{});
                             }),
                             "load-kernel");
        r += refused_by_luod("ListInhibitors", dbus_failure_of([&] { c.call_manager("ListInhibitors"); }),
                             "list-inhibitors");
        // Owning the bus name is root's alone, by the bus policy.
        r += expect("RequestName", dbus_error_of([&] { luo::sdbus_compat::request_name(c.connection(), dbus::kBusName); }),
                    err::kAccessDenied);
        return r;
    });
    CHECK(status == 0);
    CHECK(t.client.manager_string("State") == "idle");
}

TEST_CASE("a non-root owner uses its own sessions and cannot create for others", "[luod][access]")
{
    Luod t;
    int status = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        std::string r;
        r += expect("CreateSession", dbus_error_of([&] { c.create_session("nobodys"); }), "");
        UniqueFd m = make_memfd("m", "x");
        r += expect("PreserveFd", dbus_error_of([&] { c.preserve("nobodys", m.get(), "m"); }), "");
        r += c.files("nobodys").size() == 1 ? "" : "Files does not list the file";
        r += c.list_session_names() == std::vector<std::string>{"nobodys"} ? "" : "ListSessions is wrong";
        r += expect("CreateSession for another owner", dbus_error_of([&] {
                        auto p = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, dbus::kManagerPath);
                        sdbus::ObjectPath path;
                        p->callMethod("CreateSession").onInterface(dbus::kManagerInterface)
                            .withArguments(std::string("for-root"),
                                           std::map<std::string, sdbus::Variant>{{"OwnerUID", sdbus::Variant(std::uint32_t{0})}})
                            .storeResultsTo(path);
                    }),
                    err::kAccessDenied);
        return r;
    });
    CHECK(status == 0);
    // Another non-root uid cannot touch it, nor tell it from an absent one; root can.
    std::string path = t.client.get_session("nobodys");
    int other = check_as(other_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        return expect("GetSession", dbus_error_of([&] { c.get_session("nobodys"); }), err::kNoSuchSession) +
               expect("Close", dbus_error_of([&] {
                          auto p = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, path);
                          p->callMethod("Close").onInterface(dbus::kSessionInterface);
                      }),
                      "org.freedesktop.DBus.Error.UnknownObject");
    });
    CHECK(other == 0);
    CHECK(t.client.files("nobodys").size() == 1);
    CHECK_NOTHROW(t.client.close("nobodys"));
}

TEST_CASE("per-user session and per-session file quotas hold, root is not bound by them", "[luod][access][quota]")
{
    LuodOptions options;
    options.config = "[Sessions]\nMaxSessionsPerUser=2\nMaxFilesPerSession=2\n";
    Luod t(options);
    int status = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        std::string r;
        r += expect("first", dbus_error_of([&] { c.create_session("q1"); }), "");
        r += expect("second", dbus_error_of([&] { c.create_session("q2"); }), "");
        r += expect("third", dbus_error_of([&] { c.create_session("q3"); }), err::kQuotaExceeded);
        UniqueFd a = make_memfd("a"), b = make_memfd("b"), d = make_memfd("d");
        r += expect("two files", dbus_error_of([&] { c.preserve("q1", {{a.get(), "a"}, {b.get(), "b"}}); }), "");
        r += expect("third file", dbus_error_of([&] { c.preserve("q1", d.get(), "d"); }), err::kQuotaExceeded);
        return r;
    });
    CHECK(status == 0);
    CHECK_NOTHROW(t.client.create_session("root-1"));
    CHECK_NOTHROW(t.client.create_session("root-2"));
    CHECK_NOTHROW(t.client.create_session("root-3"));
}
