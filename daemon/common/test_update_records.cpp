// SPDX-License-Identifier: Apache-2.0
// The update's records as luod writes them and luoctl reads them: the JSON keys (the
// LastUpdate contract), round trips, and reading reports that stray from the schema.
#include "luo_catch.h"

#include "update_records.h"

using namespace luo::update;
using nlohmann::json;

namespace {

UpdateRecord sample_record()
{
    UpdateRecord r;
    r.strategy = "direct";
    r.started_by = "luod";
    r.dry_run = false;
    r.from_release = "7.2.13";
    r.sessions = 3;
    r.files = 7;
    r.phases.set(Phase::update_requested, 1000);
    r.phases.set(Phase::barrier_passed, 2000);
    r.phases.set(Phase::reboot_called, 3000);
    r.boot_id = "b0";
    return r;
}

}  // namespace

TEST_CASE("every result has one name, read back to the same result", "[update-records]")
{
    for (Result r : {Result::success, Result::failed, Result::cancelled, Result::dry_run, Result::sessions_lost})
        CHECK(result_from_string(to_string(r)) == r);
    CHECK(to_string(Result::dry_run) == "dry-run");
    CHECK_FALSE(result_from_string("dry_run").has_value());
    CHECK_FALSE(result_from_string("").has_value());
    CHECK(ended_without_update(Result::cancelled));
    CHECK_FALSE(ended_without_update(Result::success));
    CHECK_FALSE(ended_without_update(Result::sessions_lost));  // the kernel was updated
    CHECK(to_string(Result::sessions_lost) == "sessions-lost");
}

TEST_CASE("the phases are listed once, in the order they happen, each with its key", "[update-records]")
{
    std::vector<std::string_view> keys;
    for (const auto& p : kPhases) {
        keys.push_back(p.key);
        CHECK(to_string(p.phase) == p.key);
        CHECK(is_known_phase(p.key));
    }
    CHECK(keys == std::vector<std::string_view>{"update_requested", "barrier_passed", "reboot_called", "first_start",
                                                "restore_ready", "all_finished"});
    CHECK_FALSE(is_known_phase("kexec_loaded"));
}

TEST_CASE("a report has exactly LastUpdate's documented keys, blackout only when measured", "[update-records]")
{
    UpdateReport r = UpdateReport::of(sample_record(), Result::failed, "barrier timed out", 4);
    json j = to_json(r);
    std::vector<std::string> keys;
    for (const auto& [key, value] : j.items())
        keys.push_back(key);
    CHECK(keys == std::vector<std::string>{"dry_run", "files", "from_release", "live_update_count", "phases", "reason",
                                           "result", "sessions", "started_by", "strategy", "to_release"});
    CHECK(j["result"] == "failed");
    CHECK(j["phases"] == json{{"update_requested", 1000}, {"barrier_passed", 2000}, {"reboot_called", 3000}});
    r.blackout_ms = 1812;
    CHECK(to_json(r)["blackout_ms"] == 1812);
    CHECK(to_json(std::optional<UpdateReport>()) == json::object());
}

TEST_CASE("records and reports read back as written", "[update-records]")
{
    UpdateRecord record = sample_record();
    CHECK(update_record_from_json(to_json(record)) == record);
    record.boot_id.clear();
    CHECK_FALSE(to_json(record).contains("boot_id"));  // set only once the reboot is called
    CHECK(update_record_from_json(to_json(record)) == record);
    CHECK_FALSE(update_record_from_json(json::object()).has_value());

    UpdateReport report = UpdateReport::of(sample_record(), Result::success, "", 5);
    report.to_release = "7.3.4";
    report.blackout_ms = 42;
    CHECK(update_report_from_json(to_json(report)) == report);
    report.outcomes = std::vector<SessionOutcome>{{"vm", 1000, 2, "claimed", ""}, {"cache", 0, 1, "lost", "gone"}};
    CHECK(update_report_from_json(to_json(report)) == report);
    auto parsed = parse_update_report(to_json(report).dump());
    REQUIRE(parsed);
    CHECK(*parsed == report);
}

TEST_CASE("reading a report that strays from the schema keeps what is sound", "[update-records]")
{
    auto parsed = parse_update_report(
        R"({"result":"rolled-back","dry_run":"maybe","sessions":-1,"blackout_ms":12.5,)"
        R"("phases":{"update_requested":"soon","kexec_loaded":7,"restore_ready":9}})");
    REQUIRE(parsed);
    REQUIRE(*parsed);
    const UpdateReport& r = **parsed;
    CHECK_FALSE(r.result.has_value());
    CHECK(r.result_text == "rolled-back");  // a newer luod's result, kept as written
    CHECK_FALSE(r.dry_run);
    CHECK(r.sessions == 0);
    CHECK_FALSE(r.blackout_ms.has_value());
    CHECK_FALSE(r.phases.has(Phase::update_requested));
    CHECK(r.phases.by_key.at("kexec_loaded") == 7);  // a phase this side does not know, kept
    CHECK(r.end_usec() == 9);

    CHECK_FALSE(parse_update_report("[1]").has_value());
    CHECK_FALSE(parse_update_report("not json").has_value());
    auto empty = parse_update_report("{}");
    REQUIRE(empty);
    CHECK_FALSE(empty->has_value());
}

TEST_CASE("an attempt ends at restore_ready after a live update, else at the latest phase reached",
          "[update-records]")
{
    UpdateReport r = UpdateReport::of(sample_record(), Result::failed, "", 0);
    CHECK(r.end_usec() == 3000);
    r.phases.set(Phase::restore_ready, 2500);
    CHECK(r.end_usec() == 2500);
    CHECK_FALSE(UpdateReport().end_usec().has_value());
}

TEST_CASE("session outcomes: a report is a success only while every session reached its owner", "[update-records]")
{
    UpdateReport r = UpdateReport::of(sample_record(), Result::success, "", 1);
    CHECK_FALSE(to_json(r).contains("session_outcomes"));  // none before the restore
    r.outcomes = std::vector<SessionOutcome>{{"vm", 1000, 2, "crossed", ""}, {"cache", 0, 1, "crossed", ""}};
    r.judge_outcomes();
    CHECK(r.result == Result::success);
    CHECK(to_json(r)["session_outcomes"][0] ==
          json{{"name", "vm"}, {"owner_uid", 1000}, {"files", 2}, {"outcome", "crossed"}, {"reason", ""}});

    r.set_outcome("vm", Outcome::claimed);
    r.set_outcome("vm", Outcome::finished);
    CHECK(r.result == Result::success);
    CHECK(r.outcome_of("vm")->outcome == "finished");

    r.set_outcome("cache", Outcome::released, "not claimed within 300 s");
    CHECK(r.result == Result::sessions_lost);
    CHECK(to_json(r)["result"] == "sessions-lost");
    CHECK(r.reason == "1 session did not reach its owner: cache released-unclaimed (not claimed within 300 s)");

    r.set_outcome("ghost", Outcome::lost, "the kernel did not carry it");  // unknown until now: added
    REQUIRE(r.outcome_of("ghost") != nullptr);
    CHECK(r.reason.rfind("2 sessions did not reach their owners: ", 0) == 0);
    CHECK(r.reason.find("ghost lost (the kernel did not carry it)") != std::string::npos);

    // A failed attempt stays failed, whatever its outcomes say.
    UpdateReport failed = UpdateReport::of(sample_record(), Result::failed, "barrier timed out", 0);
    failed.set_outcome("vm", Outcome::lost, "x");
    CHECK(failed.result == Result::failed);
    CHECK(failed.reason == "barrier timed out");
}

TEST_CASE("a loss reason stays bounded however many sessions were lost", "[update-records]")
{
    UpdateReport r = UpdateReport::of(sample_record(), Result::success, "", 1);
    for (int i = 0; i < 500; ++i)
        r.set_outcome("session-" + std::to_string(i), Outcome::lost, "the kernel did not carry it");
    CHECK(r.reason.size() < 1000);
    CHECK(r.reason.find("and 492 more") != std::string::npos);
}
