// SPDX-License-Identifier: Apache-2.0
// Unit tests of luoctl's pure parts: the JSON documents (stable keys are a contract for fleet
// agents), the text output, the exit-code mapping and the one-line error reports.
#include "luo_catch.h"

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "output.h"
#include "test_helpers.h"

using namespace luo::ctl;
using luo::ctl::test::keys_of;
using luo::ctl::test::lines_of;

namespace {

ManagerStatus sample_status()
{
    ManagerStatus status;
    status.version = "0.1.0";
    status.backend = "model";
    status.state = "loaded";
    status.kernel_state = "";
    status.kexec_loaded = true;
    status.sessions = 3;
    status.incoming_sessions = 1;
    status.live_update_count = 18446744073709551615ull;  // t is 64-bit: no rounding through double
    status.kernel_features = {"session-get-name", "max-sessions=0"};
    return status;
}

SessionDetails sample_session()
{
    SessionDetails session;
    session.name = "vm-1";
    session.kind = "outgoing";
    session.state = "open";
    session.owner_uid = 1000;
    session.owner_unit = "";
    session.path = "/org/luod/LiveUpdate1/session/vm_2d1";
    session.file_count = 2;
    session.files = {{"guest-ram", 9007199254740993ull, "memfd"}, {"nic", 2, "vfio"}};
    return session;
}

}  // namespace

TEST_CASE("status JSON has the stable keys and types", "[output]")
{
    Json document = status_json(sample_status());
    CHECK(keys_of(document)
          == std::set<std::string>{"version", "backend", "state", "kernel_state", "kexec_loaded", "sessions",
                                   "incoming_sessions", "live_update_count", "kernel_features"});
    CHECK(document["version"] == "0.1.0");
    CHECK(document["backend"] == "model");
    CHECK(document["state"] == "loaded");
    CHECK(document["kernel_state"] == "");
    CHECK(document["kexec_loaded"].is_boolean());
    CHECK(document["kexec_loaded"] == true);
    CHECK(document["sessions"].is_number_unsigned());
    CHECK(document["sessions"] == 3);
    CHECK(document["incoming_sessions"] == 1);
    CHECK(document["live_update_count"].get<std::uint64_t>() == 18446744073709551615ull);
    REQUIRE(document["kernel_features"].is_array());
    CHECK(document["kernel_features"] == Json::array({"session-get-name", "max-sessions=0"}));
}

TEST_CASE("status JSON keeps an empty feature list an array", "[output]")
{
    ManagerStatus status;
    Json document = status_json(status);
    CHECK(document["kernel_features"].is_array());
    CHECK(document["kernel_features"].empty());
    CHECK(document["kexec_loaded"] == false);
}

TEST_CASE("status text is aligned Key: value lines", "[output]")
{
    std::vector<std::string> lines = lines_of(status_text(sample_status()));
    REQUIRE(lines.size() == 9);
    CHECK(lines[0] == "Version:           0.1.0");
    CHECK(lines[1] == "Backend:           model");
    CHECK(lines[2] == "State:             loaded");
    CHECK(lines[3] == "Kernel state:      -");
    CHECK(lines[4] == "Kexec loaded:      yes");
    CHECK(lines[5] == "Sessions:          3");
    CHECK(lines[6] == "Incoming sessions: 1");
    CHECK(lines[7] == "Live updates:      18446744073709551615");
    CHECK(lines[8] == "Kernel features:   session-get-name, max-sessions=0");
}

TEST_CASE("sessions JSON is an array of objects with stable keys", "[output]")
{
    std::vector<SessionSummary> sessions = {
        {"vm-1", "outgoing", 1000, "vmm@1.service", "/org/luod/LiveUpdate1/session/vm_2d1"},
        {"cache", "incoming", 0, "", "/org/luod/LiveUpdate1/session/cache"},
    };
    Json document = sessions_json(sessions);
    REQUIRE(document.is_array());
    REQUIRE(document.size() == 2);
    for (const auto& entry : document)
        CHECK(keys_of(entry) == std::set<std::string>{"name", "kind", "owner_uid", "owner_unit", "path"});
    CHECK(document[0]["name"] == "vm-1");
    CHECK(document[0]["kind"] == "outgoing");
    CHECK(document[0]["owner_uid"] == 1000);
    CHECK(document[0]["owner_unit"] == "vmm@1.service");
    CHECK(document[0]["path"] == "/org/luod/LiveUpdate1/session/vm_2d1");
    CHECK(document[1]["owner_unit"] == "");  // "-" is for people only
}

TEST_CASE("no sessions is an empty JSON array", "[output]")
{
    CHECK(json_text(sessions_json({})) == "[]\n");
}

TEST_CASE("sessions text is a table with '-' for an empty unit", "[output]")
{
    std::vector<SessionSummary> sessions = {
        {"vm-1", "outgoing", 1000, "vmm@1.service", "/p1"},
        {"cache", "incoming", 0, "", "/p2"},
    };
    std::vector<std::string> lines = lines_of(sessions_text(sessions));
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "NAME   KIND      OWNER-UID  OWNER-UNIT");
    CHECK(lines[1] == "vm-1   outgoing  1000       vmm@1.service");
    CHECK(lines[2] == "cache  incoming  0          -");
}

TEST_CASE("sessions text without sessions is the header", "[output]")
{
    CHECK(sessions_text({}) == "NAME  KIND  OWNER-UID  OWNER-UNIT\n");
}

TEST_CASE("session JSON has the stable keys, files included", "[output]")
{
    Json document = session_json(sample_session());
    CHECK(keys_of(document)
          == std::set<std::string>{"name", "kind", "state", "owner_uid", "owner_unit", "path", "file_count",
                                   "files"});
    CHECK(document["name"] == "vm-1");
    CHECK(document["kind"] == "outgoing");
    CHECK(document["state"] == "open");
    CHECK(document["owner_uid"] == 1000);
    CHECK(document["owner_unit"] == "");
    CHECK(document["path"] == "/org/luod/LiveUpdate1/session/vm_2d1");
    CHECK(document["file_count"] == 2);
    REQUIRE(document["files"].is_array());
    REQUIRE(document["files"].size() == 2);
    for (const auto& file : document["files"])
        CHECK(keys_of(file) == std::set<std::string>{"label", "token", "type"});
    CHECK(document["files"][0]["label"] == "guest-ram");
    CHECK(document["files"][0]["token"].get<std::uint64_t>() == 9007199254740993ull);
    CHECK(document["files"][0]["type"] == "memfd");
    CHECK(document["files"][1]["type"] == "vfio");
}

TEST_CASE("session JSON without files has an empty files array", "[output]")
{
    SessionDetails session = sample_session();
    session.files.clear();
    session.file_count = 0;
    Json document = session_json(session);
    CHECK(document["files"].is_array());
    CHECK(document["files"].empty());
}

TEST_CASE("session text shows the properties and a file table", "[output]")
{
    std::vector<std::string> lines = lines_of(session_text(sample_session()));
    REQUIRE(lines.size() == 11);
    CHECK(lines[0] == "Name:       vm-1");
    CHECK(lines[1] == "Kind:       outgoing");
    CHECK(lines[2] == "State:      open");
    CHECK(lines[3] == "Owner UID:  1000");
    CHECK(lines[4] == "Owner unit: -");
    CHECK(lines[5] == "Path:       /org/luod/LiveUpdate1/session/vm_2d1");
    CHECK(lines[6] == "Files:      2");
    CHECK(lines[7].empty());
    CHECK(lines[8] == "LABEL      TOKEN             TYPE");
    CHECK(lines[9] == "guest-ram  9007199254740993  memfd");
    CHECK(lines[10] == "nic        2                 vfio");
}

TEST_CASE("session text without files has no file table", "[output]")
{
    SessionDetails session = sample_session();
    session.files.clear();
    session.file_count = 0;
    std::vector<std::string> lines = lines_of(session_text(session));
    REQUIRE(lines.size() == 7);
    CHECK(lines[6] == "Files:      0");
}

TEST_CASE("JSON text is parseable, newline-terminated and survives bad UTF-8", "[output]")
{
    std::string text = json_text(status_json(sample_status()));
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    CHECK(Json::parse(text) == status_json(sample_status()));

    SessionSummary odd{"bad\xff", "outgoing", 0, "", "/p"};
    std::string odd_text;
    REQUIRE_NOTHROW(odd_text = json_text(sessions_json({odd})));
    Json parsed;
    CHECK_NOTHROW(parsed = Json::parse(odd_text));
}

TEST_CASE("text building blocks", "[output]")
{
    CHECK(or_dash("") == "-");
    CHECK(or_dash("x.service") == "x.service");
    CHECK(display_width("abc") == 3);
    CHECK(display_width("\xc3\xa9t\xc3\xa9") == 3);  // "été"
    CHECK(key_value_text({{"A", "1"}, {"Longer", "2"}}) == "A:      1\nLonger: 2\n");
    CHECK(table_text({"X", "Y"}, {{"\xc3\xa9t\xc3\xa9", "1"}}) == "X    Y\n\xc3\xa9t\xc3\xa9  1\n");
    for (const auto& line : lines_of(table_text({"A", "B"}, {{"long-cell", ""}})))
        CHECK((line.empty() || line.back() != ' '));
}

TEST_CASE("exit codes follow the D-Bus error name", "[exit-codes]")
{
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.ServiceUnknown") == ExitCode::unreachable);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.NameHasNoOwner") == ExitCode::unreachable);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.NoReply") == ExitCode::unreachable);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.Disconnected") == ExitCode::unreachable);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.Timeout") == ExitCode::unreachable);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.Spawn.ChildExited") == ExitCode::unreachable);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.AccessDenied") == ExitCode::access_denied);
    CHECK(exit_code_for_error("org.luod.LiveUpdate1.NoSuchSession") == ExitCode::no_such_session);
    CHECK(exit_code_for_error("org.luod.LiveUpdate1.UpdateInProgress") == ExitCode::busy);
    CHECK(exit_code_for_error("org.luod.LiveUpdate1.BlockedByInhibitor") == ExitCode::busy);

    CHECK(exit_code_for_error("org.luod.LiveUpdate1.SessionExists") == ExitCode::failure);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.InvalidArgs") == ExitCode::failure);
    CHECK(exit_code_for_error("org.freedesktop.DBus.Error.UnknownObject") == ExitCode::failure);
    CHECK(exit_code_for_error("") == ExitCode::failure);
    CHECK(exit_code_for_error("org.luod.LiveUpdate1.NoSuchSessionX") == ExitCode::failure);
}

TEST_CASE("exit code values are the documented contract", "[exit-codes]")
{
    CHECK(static_cast<int>(ExitCode::success) == 0);
    CHECK(static_cast<int>(ExitCode::failure) == 1);
    CHECK(static_cast<int>(ExitCode::usage) == 2);
    CHECK(static_cast<int>(ExitCode::unreachable) == 3);
    CHECK(static_cast<int>(ExitCode::access_denied) == 4);
    CHECK(static_cast<int>(ExitCode::no_such_session) == 5);
    CHECK(static_cast<int>(ExitCode::checks_failed) == 6);
    CHECK(static_cast<int>(ExitCode::update_failed) == 7);
    CHECK(static_cast<int>(ExitCode::busy) == 8);
}

TEST_CASE("the help footer documents every exit code", "[exit-codes]")
{
    std::string help = exit_status_help();
    for (const char* line : {"  0  success", "  1  failure reported by luod", "  2  usage error",
                             "  3  luod not reachable", "  4  access denied", "  5  no such session",
                             "  6  pre-flight checks failed", "  7  update failed or cancelled", "  8  busy"})
        CHECK_THAT(help, luo_catch::contains(line));
}

TEST_CASE("errors are reported as one line", "[exit-codes]")
{
    CHECK(error_line("cannot get session 'vm'", "No session vm", "org.luod.LiveUpdate1.NoSuchSession")
          == "luoctl: cannot get session 'vm': No session vm (org.luod.LiveUpdate1.NoSuchSession)");
    CHECK(error_line("internal error", "bad_alloc", "") == "luoctl: internal error: bad_alloc");
    CHECK(error_line("x", "two\nlines\r", "n") == "luoctl: x: two lines  (n)");

    CommandError error = CommandError::from_dbus("cannot read luod's status", "Access denied",
                                                 "org.freedesktop.DBus.Error.AccessDenied");
    CHECK(error.exit_code() == ExitCode::access_denied);
    CHECK(error.line()
          == "luoctl: cannot read luod's status: Access denied (org.freedesktop.DBus.Error.AccessDenied)");
    CHECK(std::string(error.what()) == error.line());
}

TEST_CASE("text output shows what callers sent as plain characters: no escape sequence reaches the terminal",
          "[output][hostile]")
{
    CHECK(terminal_safe("vm-1") == "vm-1");
    CHECK(terminal_safe("\x1b[2J\x1b[31mred") == "\\x1b[2J\\x1b[31mred");
    CHECK(terminal_safe("bell\a del\x7f") == "bell\\x07 del\\x7f");
    CHECK(terminal_safe("two\nlines\ttab") == "two lines tab");
    CHECK(terminal_safe("grüße") == "grüße");
    // Wherever text output repeats them: values, table cells, and the error line.
    CHECK(key_value_text({{"Reason", "held by \x1b]0;owned\x07"}}) == "Reason: held by \\x1b]0;owned\\x07\n");
    std::string table = table_text({"A", "B"}, {{"\x1b[1mx", "y\x1b"}});
    CHECK(table.find('\x1b') == std::string::npos);
    CHECK(error_line("w", "m\x1b[0m", "n").find('\x1b') == std::string::npos);
}
