// SPDX-License-Identifier: Apache-2.0
// The LastUpdate report (the JSON document documented with the LastUpdate property in
// dbus/org.luod.LiveUpdate1.Manager.xml) as 'report' and 'update --wait' print it, and how
// 'update --wait' tells that the update it started has ended. Pure, so it is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "exit_codes.h"
#include "output.h"
#include "records.h"
#include "update_records.h"

namespace luo::ctl {

namespace update = luo::update;

// LastUpdate as a JSON object (keys in luod's order); std::nullopt when it is not one.
std::optional<Json> parse_report(std::string_view last_update);

// Same, for printing: a report that is not a JSON object is a CommandError (ExitCode::failure).
Json report_object(std::string_view last_update);

// "{}": luod has recorded no update attempt yet.
bool report_is_empty(const Json& report);

// The report's "result" ("success", "failed", "cancelled", "dry-run"); "" when absent or not a
// string.
std::string report_result(const Json& report);

// The human summary: result, reason, strategy, releases, what was carried, the phases as local
// times, the blackout. "no live update recorded" for an empty report. Never throws on a report
// that strays from the schema: a value of an unexpected type is shown as JSON.
std::string report_text(const Json& report);

// CLOCK_REALTIME microseconds as ISO-8601 local time with milliseconds and the UTC offset, e.g.
// "2025-06-01T12:00:00.123+02:00" (the process's TZ applies). The plain number when the time
// cannot be represented.
std::string local_time_text(std::uint64_t usec);

// Has the update started when `before` was read ended, as seen in `now`? Yes when
// LiveUpdateCount grew (the update happened), or when LastUpdate changed to a report whose
// result is "failed", "cancelled" or "dry-run". A changed report with another result (or none,
// or not JSON) is not an end: luod fills the report in as the phases pass.
bool update_ended(const UpdateProgress& before, const UpdateProgress& now);

// The exit code for a report's result: "success" and "dry-run" are success, "failed" and
// "cancelled" ExitCode::update_failed, anything else ExitCode::failure.
ExitCode exit_code_for_result(std::string_view result);

// The progress line 'update --wait' prints when luod's State changes from `previous` to `now`
// ("" when there is nothing to say): on a terminal with the local time and what it means,
// otherwise terse ("luoctl: state rebooting").
std::string progress_line(const std::string& previous, const std::string& now, bool terminal);

// The one-line stderr report for an ended update whose exit code is not success; "" otherwise.
std::string outcome_error_line(const Json& report);

// While following an update: does this failure only mean that luod cannot answer now (the bus
// or luod restarting, luod's name without owner, luod not yet serving its object), so that
// waiting on is right?
bool luod_not_answering(const CommandError& error);

// Update's call failed with this error after the call may have reached luod (the reply, not the
// request, was lost): the update may have started.
bool update_may_have_started(std::string_view error_name);

}  // namespace luo::ctl
