// SPDX-License-Identifier: Apache-2.0
// Unit tests of what luoctl's update verbs decide and print without a bus: the pre-flight check
// table and document, the LastUpdate report, when 'update --wait' considers an update ended and
// with which exit code, which failures it waits through, and how 'inhibit' runs its command.
#include <fcntl.h>
#include <unistd.h>

#include "luo_catch.h"

#include <cstdlib>
#include <ctime>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "exit_codes.h"
#include "luo/dbus_api.h"
#include "luo/unique_fd.h"
#include "output.h"
#include "test_helpers.h"
#include "update_report.h"

using namespace luo::ctl;
using luo::ctl::test::keys_of;
using luo::ctl::test::lines_of;

namespace {

// Sets the process's time zone (a POSIX TZ string, so no tzdata is needed) for its lifetime.
class TimeZone {
public:
    explicit TimeZone(const char* tz)
    {
        const char* old = std::getenv("TZ");
        if (old != nullptr)
            saved_ = old;
        had_ = old != nullptr;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~TimeZone()
    {
        if (had_)
            ::setenv("TZ", saved_.c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
    TimeZone(const TimeZone&) = delete;
    TimeZone& operator=(const TimeZone&) = delete;

private:
    std::string saved_;
    bool had_ = false;
};

// 2025-06-01T12:00:00.123456Z in CLOCK_REALTIME microseconds.
constexpr std::uint64_t kNoon = 1748779200ull * 1000000 + 123456;

const char* const kSuccessReport = R"({
  "result": "success", "reason": "", "strategy": "direct", "started_by": "luod", "dry_run": false,
  "from_release": "6.12.0", "to_release": "6.13.0", "sessions": 3, "files": 7,
  "phases": {"update_requested": 1748779200123456, "barrier_passed": 1748779200500000,
             "reboot_called": 1748779201000000, "first_start": 1748779202000000,
             "restore_ready": 1748779202812000},
  "blackout_ms": 1812, "live_update_count": 4})";

UpdateProgress progress(std::uint64_t count, std::string last_update)
{
    UpdateProgress p;
    p.live_update_count = count;
    p.last_update = std::move(last_update);
    return p;
}

}  // namespace

TEST_CASE("check JSON: ok unless a check failed, checks with stable keys", "[check]")
{
    std::vector<CheckResult> checks = {
        {"device", "pass", "/dev/liveupdate opened"},
        {"cmdline", "warn", "kho=on missing on the running kernel"},
    };
    Json document = checks_json(checks);
    CHECK(keys_of(document) == std::set<std::string>{"ok", "checks"});
    CHECK(document["ok"] == true);  // a warning is not a failure
    REQUIRE(document["checks"].size() == 2);
    for (const auto& check : document["checks"])
        CHECK(keys_of(check) == std::set<std::string>{"id", "verdict", "detail"});
    CHECK(document["checks"][1]["id"] == "cmdline");
    CHECK(document["checks"][1]["verdict"] == "warn");
    CHECK(document["checks"][1]["detail"] == "kho=on missing on the running kernel");
    CHECK(failed_checks(checks).empty());
    CHECK(checks_error_line(checks).empty());

    checks.push_back({"kernel-loaded", "fail", "no kernel loaded"});
    checks.push_back({"limits", "fail", "too many sessions"});
    CHECK(checks_json(checks)["ok"] == false);
    CHECK(failed_checks(checks) == std::vector<std::string>{"kernel-loaded", "limits"});
    CHECK(checks_error_line(checks) == "luoctl: pre-flight checks failed: kernel-loaded, limits");
}

TEST_CASE("check JSON without checks is ok with an empty array", "[check]")
{
    Json document = checks_json({});
    CHECK(document["ok"] == true);
    CHECK(document["checks"].is_array());
    CHECK(document["checks"].empty());
}

TEST_CASE("check text is an ID VERDICT DETAIL table, one line per check", "[check]")
{
    std::vector<std::string> lines = lines_of(checks_text({
        {"device", "pass", "ok"},
        {"kernel-loaded", "fail", "no kernel\nloaded"},
        {"strategy", "warn", ""},
    }));
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == "ID             VERDICT  DETAIL");
    CHECK(lines[1] == "device         pass     ok");
    CHECK(lines[2] == "kernel-loaded  fail     no kernel loaded");
    CHECK(lines[3] == "strategy       warn     -");
    CHECK(checks_text({}) == "ID  VERDICT  DETAIL\n");
}

TEST_CASE("the documents of load, unload, cancel, update and inhibit", "[output]")
{
    KernelLoadRequest request;
    request.kernel = "/boot/vmlinuz-6.13";
    request.cmdline = "console=ttyS0";
    request.reuse_cmdline = true;
    Json loaded = kernel_loaded_json(request, "console=ttyS0 kho=on liveupdate=on");
    CHECK(keys_of(loaded) == std::set<std::string>{"loaded", "kernel", "initrd", "cmdline"});
    CHECK(loaded["loaded"] == true);
    CHECK(loaded["kernel"] == "/boot/vmlinuz-6.13");
    CHECK(loaded["initrd"] == "");
    CHECK(loaded["cmdline"] == "console=ttyS0 kho=on liveupdate=on");  // as loaded, not as asked

    CHECK(json_text(flag_json("loaded", false)) == "{\n  \"loaded\": false\n}\n");
    CHECK(flag_json("cancelled", true) == Json::parse(R"({"cancelled": true})"));
    CHECK(flag_json("started", true) == Json::parse(R"({"started": true})"));

    Json inhibited = command_exit_json({"sh", "-c", "exit 3"}, 3);
    CHECK(keys_of(inhibited) == std::set<std::string>{"command", "arguments", "exit_status"});
    CHECK(inhibited["command"] == "sh");
    CHECK(inhibited["arguments"] == Json::array({"-c", "exit 3"}));
    CHECK(inhibited["exit_status"] == 3);
    CHECK(command_exit_json({"true"}, 0)["arguments"] == Json::array());
}

TEST_CASE("times are ISO-8601 local times with milliseconds and the UTC offset", "[report]")
{
    {
        TimeZone utc("UTC0");
        CHECK(local_time_text(kNoon) == "2025-06-01T12:00:00.123+00:00");
        CHECK(local_time_text(0) == "1970-01-01T00:00:00.000+00:00");
        CHECK(local_time_text(999) == "1970-01-01T00:00:00.000+00:00");
        CHECK(local_time_text(1999000) == "1970-01-01T00:00:01.999+00:00");
    }
    {
        TimeZone india("IST-5:30");  // POSIX sign: east of Greenwich is negative
        CHECK(local_time_text(kNoon) == "2025-06-01T17:30:00.123+05:30");
    }
    {
        TimeZone brazil("BRT3");
        CHECK(local_time_text(kNoon) == "2025-06-01T09:00:00.123-03:00");
    }
    // Far future: still a time, not a crash or garbage.
    TimeZone utc("UTC0");
    CHECK(local_time_text(18446744073709551615ull) == "586524-01-19T08:01:49.551+00:00");
}

TEST_CASE("report text summarises a successful update", "[report]")
{
    TimeZone utc("UTC0");
    std::vector<std::string> lines = lines_of(report_text(report_object(kSuccessReport)));
    REQUIRE(lines.size() == 18);
    CHECK(lines[0] == "Result:           success");
    CHECK(lines[1] == "Reason:           -");
    CHECK(lines[2] == "Strategy:         direct");
    CHECK(lines[3] == "Started by:       luod");
    CHECK(lines[4] == "Dry run:          no");
    CHECK(lines[5] == "From release:     6.12.0");
    CHECK(lines[6] == "To release:       6.13.0");
    CHECK(lines[7] == "Sessions:         3");
    CHECK(lines[8] == "Files:            7");
    CHECK(lines[9] == "Update requested: 2025-06-01T12:00:00.123+00:00");
    CHECK(lines[10] == "Barrier passed:   2025-06-01T12:00:00.500+00:00");
    CHECK(lines[11] == "Reboot called:    2025-06-01T12:00:01.000+00:00");
    CHECK(lines[12] == "First start:      2025-06-01T12:00:02.000+00:00");
    CHECK(lines[13] == "Restore ready:    2025-06-01T12:00:02.812+00:00");
    CHECK(lines[14] == "All finished:     -");  // not reached yet
    CHECK(lines[15] == "Blackout:         1812 ms");
    CHECK(lines[16] == "Live updates:     4");
    // luod has not read the sessions that came across yet (a report with them lists them).
    CHECK(lines[17] == "Session outcomes: being read by luod");
}

TEST_CASE("report text of a failed attempt shows its reason and the phases reached", "[report]")
{
    TimeZone utc("UTC0");
    std::string text = report_text(report_object(
        R"({"result":"failed","reason":"barrier timed out after 30 s","strategy":"systemd","dry_run":false,)"
        R"("phases":{"update_requested":1748779200123456}})"));
    std::vector<std::string> lines = lines_of(text);
    CHECK(lines[0] == "Result:           failed");
    CHECK(lines[1] == "Reason:           barrier timed out after 30 s");
    CHECK(lines[2] == "Strategy:         systemd");
    CHECK_THAT(text, luo_catch::contains("Update requested: 2025-06-01T12:00:00.123+00:00"));
    CHECK_THAT(text, luo_catch::contains("Barrier passed:   -"));
    CHECK_THAT(text, luo_catch::contains("Blackout:         -"));
    CHECK_THAT(text, luo_catch::contains("From release:     -"));
}

TEST_CASE("report text survives reports that stray from the schema", "[report]")
{
    TimeZone utc("UTC0");
    std::string text;
    REQUIRE_NOTHROW(text = report_text(report_object(
                        R"({"result":7,"dry_run":"maybe","sessions":null,"blackout_ms":12.5,)"
                        R"("phases":{"update_requested":"soon","kexec_loaded":1748779200123456}})")));
    CHECK_THAT(text, luo_catch::contains("Result:           7\n"));
    CHECK_THAT(text, luo_catch::contains("Dry run:          maybe\n"));
    CHECK_THAT(text, luo_catch::contains("Sessions:         -\n"));
    CHECK_THAT(text, luo_catch::contains("Blackout:         12.5 ms\n"));
    CHECK_THAT(text, luo_catch::contains("Update requested: soon\n"));
    // A phase a newer luod reports is shown under its own name.
    CHECK_THAT(text, luo_catch::contains("kexec_loaded:     2025-06-01T12:00:00.123+00:00\n"));

    REQUIRE_NOTHROW(text = report_text(report_object(R"({"result":"success","phases":[1,2]})")));
    CHECK_THAT(text, luo_catch::contains("Phases:           [1,2]\n"));
}

TEST_CASE("an empty report means no update recorded", "[report]")
{
    Json report = report_object("{}");
    CHECK(report_is_empty(report));
    CHECK(report_text(report) == "no live update recorded\n");
    CHECK(json_text(report) == "{}\n");
    CHECK(report_result(report).empty());
    CHECK_FALSE(report_is_empty(report_object(kSuccessReport)));
}

TEST_CASE("the report JSON is LastUpdate itself, in luod's key order", "[report]")
{
    Json report = report_object(R"({"result":"dry-run","reason":"","dry_run":true})");
    CHECK(json_text(report) == "{\n  \"result\": \"dry-run\",\n  \"reason\": \"\",\n  \"dry_run\": true\n}\n");
    CHECK(report_result(report) == "dry-run");
}

TEST_CASE("a LastUpdate that is not a JSON object is a clear failure", "[report]")
{
    CHECK_FALSE(parse_report("not json").has_value());
    CHECK_FALSE(parse_report("[1]").has_value());
    CHECK_FALSE(parse_report("").has_value());
    CHECK(parse_report("{}").has_value());
    try {
        report_object("[\"x\"]");
        FAIL("no exception");
    } catch (const CommandError& e) {
        CHECK(e.exit_code() == ExitCode::failure);
        CHECK(e.line() == "luoctl: cannot read the last update's report: luod's LastUpdate is not a JSON object: '[\"x\"]'");
    }
    try {
        report_object(std::string(200, 'x'));
        FAIL("no exception");
    } catch (const CommandError& e) {
        CHECK(e.message().size() < 150);
        CHECK(e.message().ends_with("...'"));
    }
}

TEST_CASE("an update has ended once LiveUpdateCount grew", "[wait]")
{
    UpdateProgress before = progress(3, "{}");
    // The count decides, once the report is whole: it may still be the old one.
    CHECK(update_ended(before, progress(4, "{}")));
    CHECK(update_ended(before, progress(5, "not json")));
    CHECK_FALSE(update_ended(before, progress(3, "{}")));
    // A luod that lost its count is not an update.
    CHECK_FALSE(update_ended(before, progress(0, "{}")));
    // Right after the update the report has no session outcomes yet: luod is still reading
    // the sessions that came across, and the report is not whole.
    std::string so_far = kSuccessReport;
    std::string whole = so_far;
    whole.insert(whole.rfind('}'), R"(, "session_outcomes": [])");
    CHECK_FALSE(update_ended(before, progress(4, so_far)));
    CHECK(update_ended(before, progress(4, whole)));
}

TEST_CASE("an update has ended once a new report says failed, cancelled or dry-run", "[wait]")
{
    const std::string old_failure = R"({"result":"failed","reason":"old","phases":{"update_requested":1}})";
    UpdateProgress before = progress(2, old_failure);

    // The report of an earlier attempt is not the end of this one, whatever its key order.
    CHECK_FALSE(update_ended(before, progress(2, old_failure)));
    CHECK_FALSE(update_ended(before, progress(2, R"({ "phases": {"update_requested": 1},
                                                      "reason": "old", "result": "failed" })")));

    CHECK(update_ended(before, progress(2, R"({"result":"failed","reason":"new","phases":{"update_requested":2}})")));
    CHECK(update_ended(before, progress(2, R"({"result":"cancelled","reason":"cancelled"})")));
    CHECK(update_ended(before, progress(2, R"({"result":"dry-run","dry_run":true})")));

    // Changed, but no end: a success without the count (luod fills it in), no result, not JSON.
    CHECK_FALSE(update_ended(before, progress(2, R"({"result":"success"})")));
    CHECK_FALSE(update_ended(before, progress(2, R"({"phases":{"update_requested":2}})")));
    CHECK_FALSE(update_ended(before, progress(2, "{}")));
    CHECK_FALSE(update_ended(before, progress(2, "garbage")));

    // From no report at all.
    CHECK(update_ended(progress(0, "{}"), progress(0, R"({"result":"dry-run"})")));
    // Both not JSON: compared as text.
    CHECK_FALSE(update_ended(progress(0, "x"), progress(0, "x")));
}

TEST_CASE("the exit code follows the report's result", "[wait]")
{
    CHECK(exit_code_for_result("success") == ExitCode::success);
    CHECK(exit_code_for_result("dry-run") == ExitCode::success);
    CHECK(exit_code_for_result("failed") == ExitCode::update_failed);
    CHECK(exit_code_for_result("cancelled") == ExitCode::update_failed);
    CHECK(exit_code_for_result("") == ExitCode::failure);
    CHECK(exit_code_for_result("exploded") == ExitCode::failure);

    CHECK(outcome_error_line(report_object(kSuccessReport)).empty());
    CHECK(outcome_error_line(report_object(R"({"result":"dry-run"})")).empty());
    CHECK(outcome_error_line(report_object(R"({"result":"failed","reason":"kexec refused: EBUSY"})"))
          == "luoctl: the update failed: kexec refused: EBUSY");
    CHECK(outcome_error_line(report_object(R"({"result":"cancelled","reason":"cancelled by root"})"))
          == "luoctl: the update was cancelled: cancelled by root");
    CHECK(outcome_error_line(report_object(R"({"result":"failed"})")) == "luoctl: the update failed: luod gave no reason");
    CHECK(outcome_error_line(report_object(R"({"result":"odd"})"))
          == "luoctl: cannot tell how the update ended: luod reported result 'odd'");
    CHECK(outcome_error_line(report_object("{}")) == "luoctl: cannot tell how the update ended: luod's report has no result");
}

TEST_CASE("following an update waits through luod or the bus going away, not through refusals", "[wait]")
{
    auto dbus_error = [](const char* name) { return CommandError::from_dbus("x", "y", name); };
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.ServiceUnknown")));
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.NameHasNoOwner")));
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.NoReply")));
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.Disconnected")));
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.Spawn.ChildExited")));
    CHECK(luod_not_answering(dbus_error("System.Error.ECONNRESET")));
    // luod owns its name but does not serve the Manager yet.
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.UnknownObject")));
    CHECK(luod_not_answering(dbus_error("org.freedesktop.DBus.Error.UnknownInterface")));
    // No bus socket (yet): whatever errno, a connection failure is "unreachable".
    CHECK(luod_not_answering(
        CommandError("cannot connect to the system bus", "No such file", "System.Error.ENOENT", ExitCode::unreachable)));

    CHECK_FALSE(luod_not_answering(dbus_error(luo::dbus::error::kAccessDenied)));
    CHECK_FALSE(luod_not_answering(dbus_error(luo::dbus::error::kInvalidArgs)));
    CHECK_FALSE(luod_not_answering(CommandError("x", "luod did not report property LastUpdate", "", ExitCode::failure)));
}

TEST_CASE("a lost reply to Update may mean the update started, a refusal does not", "[wait]")
{
    CHECK(update_may_have_started("org.freedesktop.DBus.Error.NoReply"));
    CHECK(update_may_have_started("org.freedesktop.DBus.Error.Disconnected"));
    CHECK(update_may_have_started("org.freedesktop.DBus.Error.Timeout"));
    CHECK(update_may_have_started("System.Error.ECONNRESET"));
    // Never delivered, or refused.
    CHECK_FALSE(update_may_have_started("org.freedesktop.DBus.Error.ServiceUnknown"));
    CHECK_FALSE(update_may_have_started("org.freedesktop.DBus.Error.NameHasNoOwner"));
    CHECK_FALSE(update_may_have_started(luo::dbus::error::kChecksFailed));
    CHECK_FALSE(update_may_have_started(luo::dbus::error::kNotLoaded));
    CHECK_FALSE(update_may_have_started(""));
}

TEST_CASE("update errors map to their exit codes", "[exit-codes]")
{
    CHECK(exit_code_for_error(luo::dbus::error::kChecksFailed) == ExitCode::checks_failed);
    CHECK(exit_code_for_error(luo::dbus::error::kUpdateInProgress) == ExitCode::busy);
    CHECK(exit_code_for_error(luo::dbus::error::kBlockedByInhibitor) == ExitCode::busy);
    CHECK(exit_code_for_error(luo::dbus::error::kNotLoaded) == ExitCode::failure);
    CHECK(exit_code_for_error(luo::dbus::error::kAccessDenied) == ExitCode::access_denied);
    CHECK(exit_code_for_error(luo::dbus::error::kKernelError) == ExitCode::failure);
    CHECK(static_cast<int>(ExitCode::cannot_run) == 127);
    CHECK_THAT(exit_status_help(), luo_catch::contains("128+N"));
}

TEST_CASE("inhibit's command: exit status, signals, and a command that cannot run", "[inhibit]")
{
    CHECK(run_command({"true"}).exit_status == 0);
    CommandExit three = run_command({"sh", "-c", "exit 3"});
    CHECK(three.exit_status == 3);
    CHECK(three.signal == 0);
    CommandExit killed = run_command({"sh", "-c", "kill -TERM $$"});
    CHECK(killed.exit_status == 128 + 15);
    CHECK(killed.signal == 15);

    try {
        run_command({"/nonexistent/luoctl-test-command", "x"});
        FAIL("no exception");
    } catch (const CommandError& e) {
        CHECK(e.exit_code() == ExitCode::cannot_run);
        CHECK(e.line() == "luoctl: cannot run '/nonexistent/luoctl-test-command': No such file or directory");
    }
    try {
        run_command({"/dev/null"});
        FAIL("no exception");
    } catch (const CommandError& e) {
        CHECK(e.exit_code() == ExitCode::cannot_run);
        CHECK(e.message() == "Permission denied");
    }
    CHECK_THROWS_AS(run_command({}), CommandError);
    CHECK_THROWS_AS(run_command({""}), CommandError);
}

TEST_CASE("inhibit's command does not inherit a close-on-exec fd", "[inhibit]")
{
    // dup() clears close-on-exec, as sdbus-c++ does with the fds it receives.
    luo::UniqueFd plain(::dup(STDERR_FILENO));
    REQUIRE(plain.valid());
    REQUIRE((::fcntl(plain.get(), F_GETFD) & FD_CLOEXEC) == 0);
    const std::string probe = "test -e /proc/self/fd/" + std::to_string(plain.get());
    CHECK(run_command({"sh", "-c", probe}).exit_status == 0);  // the probe sees inherited fds

    set_close_on_exec(plain.get());
    CHECK((::fcntl(plain.get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(run_command({"sh", "-c", probe}).exit_status == 1);
    CHECK_THROWS_AS(set_close_on_exec(-1), CommandError);
}

TEST_CASE("shell exit status convention", "[inhibit]")
{
    CHECK(shell_exit_status(0) == 0);
    CHECK(shell_exit_status(42 << 8) == 42);  // WIFEXITED, as Linux encodes it
    CHECK(shell_exit_status(9) == 128 + 9);   // WIFSIGNALED by SIGKILL
}

TEST_CASE("update --wait: a progress line per state, terse without a terminal", "[update][progress]")
{
    CHECK(progress_line("loaded", "loaded", true).empty());
    CHECK(progress_line("loaded", "", false).empty());
    CHECK(progress_line("loaded", "preparing", false) == "luoctl: state preparing");
    CHECK(progress_line("preparing", "rebooting", false) == "luoctl: state rebooting");
    std::string line = progress_line("loaded", "preparing", true);
    CHECK(line.rfind("luoctl: ", 0) == 0);
    CHECK(line.find(" preparing: waiting for the services' delay inhibitors") != std::string::npos);
    CHECK(progress_line("preparing", "rebooting", true).find("rebooting into the new kernel") != std::string::npos);
    CHECK(progress_line("rebooting", "updated", true).find("restored the sessions") != std::string::npos);
    CHECK(progress_line("loaded", "bogus\x1b[2J", false) == "luoctl: state bogus\\x1b[2J");  // escaped
}

TEST_CASE("needs root: the bus's refusal replaced, luod's reason kept", "[exit-codes]")
{
    CHECK(needs_root_text("Rejected send message, 2 matched rules; type=\"method_call\", sender=\":1.5\" "
                          "interface=\"org.luod.LiveUpdate1.Manager\" member=\"LoadKernel\"") ==
          "needs root (run it as root, for example with sudo; the system bus lets only root call this)");
    CHECK(needs_root_text("only root may cancel an update") ==
          "needs root (run it as root, for example with sudo): only root may cancel an update");
}

TEST_CASE("the inhibitors document and table", "[output]")
{
    std::vector<InhibitorEntry> held{{"vmm", "saving guest state", "delay", 1000, 4242}};
    Json document = inhibitors_json(held);
    REQUIRE(document.size() == 1);
    CHECK(keys_of(document[0]) == std::set<std::string>{"who", "why", "mode", "uid", "pid"});
    CHECK(document[0]["pid"] == 4242);
    CHECK(inhibitors_text(held) == "WHO  MODE   UID   PID   WHY\nvmm  delay  1000  4242  saving guest state\n");
    CHECK(inhibitors_text({}) == "no inhibitor is held\n");
    CHECK(inhibitors_json({}) == Json::array());
}
