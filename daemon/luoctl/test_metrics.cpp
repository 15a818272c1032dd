// SPDX-License-Identifier: Apache-2.0
// Unit tests of 'luoctl metrics': the values taken from luod's properties and LastUpdate, the
// Prometheus text exposition (names, HELP and TYPE, label escaping, which metrics are left out)
// and its JSON twin, and the atomic write for node_exporter's textfile collector.
#include <sys/stat.h>
#include <unistd.h>

#include "luo_catch.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "metrics.h"
#include "test_helpers.h"

using namespace luo::ctl;
using luo::ctl::test::keys_of;
using luo::ctl::test::lines_of;

namespace {

const char* const kSuccessReport = R"({
  "result": "success", "reason": "", "strategy": "direct", "dry_run": false,
  "from_release": "6.12.0", "to_release": "6.13.0", "sessions": 3, "files": 7,
  "phases": {"update_requested": 1748779200123456, "barrier_passed": 1748779200500000,
             "reboot_called": 1748779201000000, "first_start": 1748779202000000,
             "restore_ready": 1748779202812000, "all_finished": 1748779203000000},
  "blackout_ms": 1812, "live_update_count": 4})";

const char* const kFailedReport = R"({
  "result": "failed", "reason": "the readiness barrier timed out", "strategy": "direct",
  "dry_run": false, "from_release": "6.12.0", "to_release": "", "sessions": 3, "files": 7,
  "phases": {"barrier_passed": 1748779200500000, "update_requested": 1748779200123456},
  "live_update_count": 3})";

MetricsSnapshot snapshot(std::string last_update)
{
    MetricsSnapshot s;
    s.status.version = "0.1.0";
    s.status.backend = "model";
    s.status.state = "updated";
    s.status.kexec_loaded = false;
    s.status.sessions = 2;
    s.status.incoming_sessions = 1;
    s.status.live_update_count = 4;
    s.files = 9;
    s.last_update = std::move(last_update);
    return s;
}

// The samples of an exposition: "name{labels}" -> value.
std::map<std::string, std::string> samples_of(const std::string& text)
{
    std::map<std::string, std::string> samples;
    for (const auto& line : lines_of(text)) {
        if (line.empty() || line.front() == '#')
            continue;
        auto space = line.rfind(' ');
        samples[line.substr(0, space)] = line.substr(space + 1);
    }
    return samples;
}

// Checks the rules of the text format 0.0.4 that a scraper enforces: one HELP and one TYPE per
// metric, before its samples; valid names, all luod_; every sample of a declared metric; a
// series at most once; a numeric value; a final newline.
void check_exposition(const std::string& text)
{
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    const std::regex help(R"(# HELP (luod_[a-zA-Z0-9_]*) \S.*)");
    const std::regex type(R"(# TYPE (luod_[a-zA-Z0-9_]*) (counter|gauge))");
    const std::regex sample(R"((luod_[a-zA-Z0-9_]*)(\{[a-z_]+="([^"\\]|\\.)*"\})? (-?[0-9]+(\.[0-9]+)?))");
    std::set<std::string> helped, typed, series;
    std::string current;  // the metric whose samples may follow
    for (const auto& line : lines_of(text)) {
        std::smatch match;
        if (std::regex_match(line, match, help)) {
            CHECK(helped.insert(match[1]).second);
            current.clear();
        } else if (std::regex_match(line, match, type)) {
            CHECK(helped.count(match[1]) == 1);
            CHECK(typed.insert(match[1]).second);
            current = match[1];
            if (match[2] == "counter")
                CHECK(current.ends_with("_total"));
        } else if (std::regex_match(line, match, sample)) {
            CHECK(match[1] == current);
            CHECK(series.insert(line.substr(0, line.rfind(' '))).second);
        } else {
            FAIL("not a line of the text format: '" << line << "'");
        }
    }
    CHECK(helped == typed);
}

}  // namespace

TEST_CASE("metrics take luod's properties and the last update's report", "[metrics]")
{
    Metrics metrics = metrics_from(snapshot(kSuccessReport));
    CHECK(metrics.up);
    CHECK(metrics.live_updates_total == 4);
    CHECK(metrics.sessions == 2);
    CHECK(metrics.incoming_sessions == 1);
    CHECK(metrics.files == 9);
    CHECK(metrics.state == "updated");
    CHECK_FALSE(metrics.kexec_loaded);
    CHECK(metrics.last_update_result == "success");
    CHECK(metrics.last_update_blackout_ms == 1812u);
    CHECK(metrics.last_update_end_usec == 1748779202812000u);  // restore_ready, not all_finished
    CHECK_FALSE(metrics.last_update_failed);
}

TEST_CASE("metrics text of a live update, exactly", "[metrics]")
{
    std::string text = metrics_text(metrics_from(snapshot(kSuccessReport)));
    check_exposition(text);
    CHECK(text ==
          "# HELP luod_up Whether luod answered with its figures on the system bus (1) or not (0).\n"
          "# TYPE luod_up gauge\n"
          "luod_up 1\n"
          "# HELP luod_live_updates_total Live updates this host went through under luod.\n"
          "# TYPE luod_live_updates_total counter\n"
          "luod_live_updates_total 4\n"
          "# HELP luod_sessions Outgoing sessions luod holds, to be carried by the next update.\n"
          "# TYPE luod_sessions gauge\n"
          "luod_sessions 2\n"
          "# HELP luod_incoming_sessions Sessions carried by the last update and not yet finished or released.\n"
          "# TYPE luod_incoming_sessions gauge\n"
          "luod_incoming_sessions 1\n"
          "# HELP luod_files Files preserved in the sessions the caller may list (all for root).\n"
          "# TYPE luod_files gauge\n"
          "luod_files 9\n"
          "# HELP luod_state luod's state: 1 for the current one, 0 for the others.\n"
          "# TYPE luod_state gauge\n"
          "luod_state{state=\"idle\"} 0\n"
          "luod_state{state=\"loaded\"} 0\n"
          "luod_state{state=\"preparing\"} 0\n"
          "luod_state{state=\"rebooting\"} 0\n"
          "luod_state{state=\"updated\"} 1\n"
          "# HELP luod_kexec_loaded Whether a kernel is loaded for the next update.\n"
          "# TYPE luod_kexec_loaded gauge\n"
          "luod_kexec_loaded 0\n"
          "# HELP luod_last_update_blackout_seconds Blackout of the last live update, from the reboot call to "
          "luod's restore in the new kernel.\n"
          "# TYPE luod_last_update_blackout_seconds gauge\n"
          "luod_last_update_blackout_seconds 1.812\n"
          "# HELP luod_last_update_timestamp_seconds When the last update attempt ended (restore ready, else its "
          "last phase), in Unix time.\n"
          "# TYPE luod_last_update_timestamp_seconds gauge\n"
          "luod_last_update_timestamp_seconds 1748779202.812\n"
          "# HELP luod_last_update_result Result of the last update attempt: 1 for it, 0 for the others (all 0 "
          "before any).\n"
          "# TYPE luod_last_update_result gauge\n"
          "luod_last_update_result{result=\"success\"} 1\n"
          "luod_last_update_result{result=\"failed\"} 0\n"
          "luod_last_update_result{result=\"cancelled\"} 0\n"
          "luod_last_update_result{result=\"dry-run\"} 0\n"
          "luod_last_update_result{result=\"sessions-lost\"} 0\n"
          "# HELP luod_last_update_failed Whether the last update attempt failed, was cancelled, or lost "
          "sessions.\n"
          "# TYPE luod_last_update_failed gauge\n"
          "luod_last_update_failed 0\n");
}

TEST_CASE("luod not answering is luod_up 0 and nothing else", "[metrics]")
{
    Metrics down;
    std::string text = metrics_text(down);
    check_exposition(text);
    CHECK(text ==
          "# HELP luod_up Whether luod answered with its figures on the system bus (1) or not (0).\n"
          "# TYPE luod_up gauge\n"
          "luod_up 0\n");
    CHECK(json_text(metrics_json(down)) == "{\n  \"up\": false\n}\n");
}

TEST_CASE("before any update: no blackout, no timestamp, every result 0", "[metrics]")
{
    for (const char* last_update : {"{}", "not json", "[1, 2]"}) {
        INFO(last_update);
        Metrics metrics = metrics_from(snapshot(last_update));
        std::string text = metrics_text(metrics);
        check_exposition(text);
        auto samples = samples_of(text);
        CHECK(samples.count("luod_last_update_blackout_seconds") == 0);
        CHECK(samples.count("luod_last_update_timestamp_seconds") == 0);
        for (auto result : kMetricResults)
            CHECK(samples.at("luod_last_update_result{result=\"" + std::string(result) + "\"}") == "0");
        CHECK(samples.at("luod_last_update_failed") == "0");
        CHECK(samples.at("luod_up") == "1");
        CHECK(samples.at("luod_files") == "9");
    }
}

TEST_CASE("a failed or cancelled attempt: failed 1, its last phase, no blackout", "[metrics]")
{
    Metrics failed = metrics_from(snapshot(kFailedReport));
    CHECK(failed.last_update_failed);
    CHECK(failed.last_update_end_usec == 1748779200500000u);  // the latest phase, whatever the key order
    CHECK_FALSE(failed.last_update_blackout_ms);
    auto samples = samples_of(metrics_text(failed));
    CHECK(samples.at("luod_last_update_result{result=\"failed\"}") == "1");
    CHECK(samples.at("luod_last_update_result{result=\"success\"}") == "0");
    CHECK(samples.at("luod_last_update_failed") == "1");
    CHECK(samples.at("luod_last_update_timestamp_seconds") == "1748779200.5");
    CHECK(samples.count("luod_last_update_blackout_seconds") == 0);

    Metrics cancelled = metrics_from(snapshot(R"({"result": "cancelled", "phases": {"update_requested": 7}})"));
    CHECK(cancelled.last_update_failed);
    CHECK(samples_of(metrics_text(cancelled)).at("luod_last_update_timestamp_seconds") == "0.000007");

    Metrics dry_run = metrics_from(snapshot(R"({"result": "dry-run", "phases": {"barrier_passed": 2000000}})"));
    CHECK_FALSE(dry_run.last_update_failed);
    auto dry = samples_of(metrics_text(dry_run));
    CHECK(dry.at("luod_last_update_result{result=\"dry-run\"}") == "1");
    CHECK(dry.at("luod_last_update_failed") == "0");
    CHECK(dry.at("luod_last_update_timestamp_seconds") == "2");
}

TEST_CASE("a state or result unknown to luoctl gets a series of its own, escaped", "[metrics]")
{
    MetricsSnapshot s = snapshot(R"({"result": "rolled \"back\"\\"})");
    s.status.state = "new\nstate";
    std::string text = metrics_text(metrics_from(s));
    check_exposition(text);
    auto samples = samples_of(text);
    for (auto state : kMetricStates)
        CHECK(samples.at("luod_state{state=\"" + std::string(state) + "\"}") == "0");
    CHECK(samples.at("luod_state{state=\"new\\nstate\"}") == "1");
    CHECK(samples.at("luod_last_update_result{result=\"rolled \\\"back\\\"\\\\\"}") == "1");
    CHECK(samples.at("luod_last_update_failed") == "0");
}

TEST_CASE("every state has a series, 1 for the current one", "[metrics]")
{
    for (auto current : kMetricStates) {
        MetricsSnapshot s = snapshot("{}");
        s.status.state = std::string(current);
        auto samples = samples_of(metrics_text(metrics_from(s)));
        for (auto state : kMetricStates)
            CHECK(samples.at("luod_state{state=\"" + std::string(state) + "\"}") == (state == current ? "1" : "0"));
    }
}

TEST_CASE("metrics JSON has the same values under stable keys", "[metrics]")
{
    Json document = metrics_json(metrics_from(snapshot(kSuccessReport)));
    CHECK(keys_of(document)
          == std::set<std::string>{"up", "live_updates_total", "sessions", "incoming_sessions", "files", "state",
                                   "kexec_loaded", "last_update_result", "last_update_blackout_seconds",
                                   "last_update_timestamp_seconds", "last_update_failed"});
    CHECK(document["up"] == true);
    CHECK(document["live_updates_total"] == 4);
    CHECK(document["sessions"] == 2);
    CHECK(document["incoming_sessions"] == 1);
    CHECK(document["files"] == 9);
    CHECK(document["state"] == "updated");
    CHECK(document["kexec_loaded"] == false);
    CHECK(document["last_update_result"] == "success");
    CHECK(document["last_update_failed"] == false);
    // Printed in the shortest exact form, like the exposition.
    std::string text = json_text(document);
    CHECK_THAT(text, luo_catch::contains("\"last_update_blackout_seconds\": 1.812,"));
    CHECK_THAT(text, luo_catch::contains("\"last_update_timestamp_seconds\": 1748779202.812,"));

    Json none = metrics_json(metrics_from(snapshot("{}")));
    CHECK(keys_of(none) == keys_of(document));
    CHECK(none["last_update_result"].is_null());
    CHECK(none["last_update_blackout_seconds"].is_null());
    CHECK(none["last_update_timestamp_seconds"].is_null());
    CHECK(none["last_update_failed"] == false);
}

TEST_CASE("decimal seconds are exact and without trailing zeros", "[metrics]")
{
    CHECK(decimal_seconds(0, 3) == "0");
    CHECK(decimal_seconds(42, 3) == "0.042");
    CHECK(decimal_seconds(2000, 3) == "2");
    CHECK(decimal_seconds(1812, 3) == "1.812");
    CHECK(decimal_seconds(1500000, 6) == "1.5");
    CHECK(decimal_seconds(1748779200123456, 6) == "1748779200.123456");
    CHECK(decimal_seconds(18446744073709551615ull, 6) == "18446744073709.551615");
}

TEST_CASE("label values escape backslash, double quote and newline", "[metrics]")
{
    CHECK(escape_label_value("idle") == "idle");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(escape_label_value("two\nlines") == "two\\nlines");
}

namespace {

// A fresh directory, removed with its contents at the end of the test.
class ScratchDirectory {
public:
    ScratchDirectory()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "luoctl-metrics-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~ScratchDirectory()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDirectory(const ScratchDirectory&) = delete;
    ScratchDirectory& operator=(const ScratchDirectory&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

std::string contents_of(const std::filesystem::path& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::set<std::string> names_in(const std::filesystem::path& directory)
{
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(directory))
        names.insert(entry.path().filename().string());
    return names;
}

}  // namespace

TEST_CASE("the output file is replaced whole, readable by node_exporter, no .tmp left", "[metrics]")
{
    ScratchDirectory directory;
    std::string file = (directory.path() / "luod.prom").string();
    mode_t old_umask = ::umask(077);
    write_file_atomically(file, "luod_up 1\n");
    ::umask(old_umask);
    CHECK(contents_of(file) == "luod_up 1\n");
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);

    write_file_atomically(file, "luod_up 0\n");
    CHECK(contents_of(file) == "luod_up 0\n");
    CHECK(names_in(directory.path()) == std::set<std::string>{"luod.prom"});

    // A stale .tmp from an interrupted run is simply overwritten.
    std::ofstream(file + ".tmp") << "half a fi";
    write_file_atomically(file, "");
    CHECK(contents_of(file).empty());
    CHECK(names_in(directory.path()) == std::set<std::string>{"luod.prom"});
}

TEST_CASE("an output file that cannot be written is a failure naming it", "[metrics]")
{
    ScratchDirectory directory;
    std::string file = (directory.path() / "missing" / "luod.prom").string();
    try {
        write_file_atomically(file, "luod_up 1\n");
        FAIL("no error");
    } catch (const CommandError& e) {
        CHECK(e.exit_code() == ExitCode::failure);
        CHECK_THAT(e.line(), luo_catch::contains("cannot write '" + file + "'"));
    }

    // Renaming onto a directory fails after the .tmp was written: it is removed again.
    std::filesystem::create_directory(directory.path() / "luod.prom");
    std::filesystem::create_directory(directory.path() / "luod.prom" / "busy");
    CHECK_THROWS_AS(write_file_atomically((directory.path() / "luod.prom").string(), "x"), CommandError);
    CHECK(names_in(directory.path()) == std::set<std::string>{"luod.prom"});
}
