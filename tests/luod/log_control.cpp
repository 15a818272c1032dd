// SPDX-License-Identifier: Apache-2.0
// org.freedesktop.LogControl1 on luod's bus name: the log level and target change while luod
// runs (as `systemctl service-log-level luod debug` changes them), only root changes them, and
// a value luod does not know is a clear error that changes nothing.
#include "luo-dbus/sdbus_compat.h"
#include "luo_catch.h"

#include "fixture.h"
#include "luo/dbus_api.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;

namespace {

constexpr const char* kPath = "/org/freedesktop/LogControl1";
constexpr const char* kInterface = "org.freedesktop.LogControl1";

// busctl, as an operator would type it, on the test bus.
ProgramResult busctl(const Luod& t, std::vector<std::string> args)
{
    args.insert(args.begin(), {"/usr/bin/busctl", "--address=" + t.bus.address()});
    return run_program(args);
}

std::string get(sdbus::IConnection& bus, const std::string& property)
{
    auto proxy = luo::sdbus_compat::create_proxy(bus, dbus::kBusName, kPath);
    return proxy->getProperty(property).onInterface(kInterface).get<std::string>();
}

void set(sdbus::IConnection& bus, const std::string& property, const std::string& value)
{
    auto proxy = luo::sdbus_compat::create_proxy(bus, dbus::kBusName, kPath);
    proxy->setProperty(property).onInterface(kInterface).toValue(value);
}

// How often luod logged a debug line of its own so far (the manifest's, on every new session).
std::size_t debug_lines(const Luod& t)
{
    std::string log = t.luod.log();
    std::size_t count = 0;
    for (auto at = log.find("manifest: appended"); at != std::string::npos; at = log.find("manifest: appended", at + 1))
        ++count;
    return count;
}

}  // namespace

TEST_CASE("LogControl1: root changes luod's log level and target while it runs", "[luod][log-control]")
{
    Luod t;  // the harness starts luod with --log-level debug
    CHECK(get(t.client.connection(), "LogLevel") == "debug");
    CHECK(get(t.client.connection(), "LogTarget") == "console");  // stderr is a file here, not the journal
    CHECK(get(t.client.connection(), "SyslogIdentifier") == "luod");

    // What systemctl service-log-level sends, typed with busctl.
    ProgramResult quiet = busctl(t, {"set-property", dbus::kBusName, kPath, kInterface, "LogLevel", "s", "info"});
    INFO(quiet.err);
    REQUIRE(quiet.status == 0);
    ProgramResult read = busctl(t, {"get-property", dbus::kBusName, kPath, kInterface, "LogLevel"});
    CHECK(read.out == "s \"info\"\n");
    std::size_t before = debug_lines(t);
    t.client.create_session("at-info");
    CHECK(debug_lines(t) == before);  // no debug line at info

    set(t.client.connection(), "LogLevel", "debug");
    t.client.create_session("at-debug");
    std::size_t at_debug = debug_lines(t);
    CHECK(at_debug > before);

    // A level spdlog lacks reads back as set, and logs as the nearest one that hides nothing more.
    set(t.client.connection(), "LogLevel", "notice");
    CHECK(get(t.client.connection(), "LogLevel") == "notice");
    t.client.create_session("at-notice");
    CHECK(debug_lines(t) == at_debug);

    // Target null: nothing more is logged; back to console, luod says so.
    set(t.client.connection(), "LogLevel", "debug");
    set(t.client.connection(), "LogTarget", "null");
    CHECK(get(t.client.connection(), "LogTarget") == "null");
    t.client.create_session("at-null");
    CHECK(debug_lines(t) == at_debug);
    set(t.client.connection(), "LogTarget", "auto");
    CHECK(get(t.client.connection(), "LogTarget") == "console");
    CHECK(t.luod.log().find("log target set to console by uid 0") != std::string::npos);
    t.client.create_session("back-on-console");
    CHECK(debug_lines(t) > at_debug);
}

TEST_CASE("LogControl1: unknown levels and targets are refused and change nothing", "[luod][log-control][bad-input]")
{
    Luod t;
    auto& bus = t.client.connection();
    for (const char* bad : {"verbose", "", "DEBUG", "trace", "debug ", "7"}) {
        DbusFailure got = dbus_failure_of([&] { set(bus, "LogLevel", bad); });
        INFO("LogLevel '" << bad << "': " << got.message);
        CHECK(got.name == err::kInvalidArgs);
        CHECK(got.message.find("unknown log level") != std::string::npos);
        CHECK(get(bus, "LogLevel") == "debug");
    }
    for (const char* unsupported : {"kmsg", "syslog", "journal-or-kmsg"}) {
        DbusFailure got = dbus_failure_of([&] { set(bus, "LogTarget", unsupported); });
        INFO("LogTarget '" << unsupported << "': " << got.message);
        CHECK(got.name == err::kNotSupported);
        CHECK(get(bus, "LogTarget") == "console");
    }
    CHECK(dbus_error_of([&] { set(bus, "LogTarget", "printer"); }) == err::kInvalidArgs);
    CHECK(get(bus, "LogTarget") == "console");
    // The wrong type and a read-only property are refused by the bus library, as anywhere.
    auto proxy = luo::sdbus_compat::create_proxy(bus, dbus::kBusName, kPath);
    CHECK(dbus_error_of([&] { proxy->setProperty("LogLevel").onInterface(kInterface).toValue(std::uint32_t{7}); }) ==
          err::kInvalidArgs);
    CHECK_FALSE(dbus_error_of([&] { set(bus, "SyslogIdentifier", "other"); }).empty());
    CHECK(get(bus, "SyslogIdentifier") == "luod");
    CHECK(get(bus, "LogLevel") == "debug");
    // luod still serves.
    CHECK_NOTHROW(t.client.create_session("still-serving"));
}

TEST_CASE("LogControl1: another uid reads the log settings but cannot change them", "[luod][log-control][access]")
{
    Luod t;
    int status = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        std::string r;
        r += expect("LogLevel", get(c.connection(), "LogLevel"), "debug");
        DbusFailure level = dbus_failure_of([&] { set(c.connection(), "LogLevel", "err"); });
        r += expect("setting LogLevel", level.name, err::kAccessDenied);
        r += level.message.find("only root") == std::string::npos
            ? "LogLevel's refusal does not say who may: " + level.message + "; "
            : "";
        r += expect("setting LogTarget", dbus_error_of([&] { set(c.connection(), "LogTarget", "null"); }),
                    err::kAccessDenied);
        // A bad value from a caller who may not set any: refused as not allowed, not as bad.
        r += expect("setting LogLevel to nonsense", dbus_error_of([&] { set(c.connection(), "LogLevel", "loud"); }),
                    err::kAccessDenied);
        ProgramResult typed = run_program({"/usr/bin/busctl", "--address=" + t.bus.address(), "set-property",
                                           dbus::kBusName, kPath, kInterface, "LogLevel", "s", "err"});
        r += typed.status != 0 && typed.err.find("Access denied") != std::string::npos
            ? ""
            : "busctl as nobody: status " + std::to_string(typed.status) + ", " + typed.err + "; ";
        return r;
    });
    CHECK(status == 0);
    CHECK(get(t.client.connection(), "LogLevel") == "debug");
    CHECK(get(t.client.connection(), "LogTarget") == "console");
    std::size_t before = debug_lines(t);
    t.client.create_session("still-debug");
    CHECK(debug_lines(t) > before);
}
