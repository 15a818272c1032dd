// SPDX-License-Identifier: Apache-2.0
#include "update_report.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <limits>
#include <utility>
#include <vector>

namespace luo::ctl {

namespace {

// Errors meaning that luod's name has an owner which does not serve the Manager yet (luod
// starting), on top of those that exit_code_for_error() files under "not reachable".
constexpr std::array kNotServingYet{
    std::string_view{"org.freedesktop.DBus.Error.UnknownObject"},
    std::string_view{"org.freedesktop.DBus.Error.UnknownInterface"},
    std::string_view{"org.freedesktop.DBus.Error.UnknownMethod"},
    std::string_view{"org.freedesktop.DBus.Error.UnknownProperty"},
};

// The reply of a call that luod may have received got lost: the bus or luod went away.
constexpr std::array kReplyLost{
    std::string_view{"org.freedesktop.DBus.Error.NoReply"},
    std::string_view{"org.freedesktop.DBus.Error.Timeout"},
    std::string_view{"org.freedesktop.DBus.Error.TimedOut"},
    std::string_view{"org.freedesktop.DBus.Error.Disconnected"},
    std::string_view{"System.Error.ECONNRESET"},
};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name)
{
    for (std::string_view known : names) {
        if (known == name)
            return true;
    }
    return false;
}

const Json* member(const Json& object, std::string_view key)
{
    if (!object.is_object())
        return nullptr;
    auto found = object.find(std::string(key));
    return found == object.end() ? nullptr : &*found;
}

// A report value for people: "-" when absent or empty, yes/no, numbers as they are, anything
// unexpected as compact JSON.
std::string value_text(const Json* value)
{
    if (value == nullptr || value->is_null())
        return "-";
    if (value->is_string())
        return or_dash(value->get<std::string>());
    if (value->is_boolean())
        return value->get<bool>() ? "yes" : "no";
    return value->dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string phase_text(const Json* value)
{
    if (value != nullptr && value->is_number_unsigned())
        return local_time_text(value->get<std::uint64_t>());
    return value_text(value);
}

std::string blackout_text(const Json* value)
{
    if (value != nullptr && value->is_number())
        return value_text(value) + " ms";
    return value_text(value);
}

// Two LastUpdate values report the same attempt: equal as JSON (whatever the key order or
// spacing), or equal as text when either is not JSON.
bool same_report(const std::string& a, const std::string& b)
{
    nlohmann::json parsed_a = nlohmann::json::parse(a, nullptr, false);
    nlohmann::json parsed_b = nlohmann::json::parse(b, nullptr, false);
    if (parsed_a.is_discarded() || parsed_b.is_discarded())
        return a == b;
    return parsed_a == parsed_b;
}

}  // namespace

std::optional<Json> parse_report(std::string_view last_update)
{
    Json report = Json::parse(last_update, nullptr, false);
    if (report.is_discarded() || !report.is_object())
        return std::nullopt;
    return report;
}

Json report_object(std::string_view last_update)
{
    std::optional<Json> report = parse_report(last_update);
    if (!report) {
        std::string shown(last_update.substr(0, 80));
        throw CommandError("cannot read the last update's report",
                           "luod's LastUpdate is not a JSON object: '" + shown
                               + (last_update.size() > shown.size() ? "...'" : "'"),
                           "", ExitCode::failure);
    }
    return std::move(*report);
}

bool report_is_empty(const Json& report)
{
    return report.is_object() && report.empty();
}

std::string report_result(const Json& report)
{
    const Json* result = member(report, "result");
    return result != nullptr && result->is_string() ? result->get<std::string>() : std::string();
}

std::string report_text(const Json& report)
{
    if (report_is_empty(report))
        return "no live update recorded\n";

    std::vector<KeyValue> rows{
        {"Result", value_text(member(report, "result"))},
        {"Reason", value_text(member(report, "reason"))},
        {"Strategy", value_text(member(report, "strategy"))},
        {"Started by", value_text(member(report, "started_by"))},
        {"Dry run", value_text(member(report, "dry_run"))},
        {"From release", value_text(member(report, "from_release"))},
        {"To release", value_text(member(report, "to_release"))},
        {"Sessions", value_text(member(report, "sessions"))},
        {"Files", value_text(member(report, "files"))},
    };
    const Json* phases = member(report, "phases");
    for (const auto& phase : update::kPhases)
        rows.emplace_back(std::string(phase.label), phase_text(phases ? member(*phases, phase.key) : nullptr));
    if (phases != nullptr && phases->is_object()) {
        // Phases a newer luod reports: shown under their own names, after the known ones.
        for (const auto& item : phases->items()) {
            if (!update::is_known_phase(item.key()))
                rows.emplace_back(item.key(), phase_text(&item.value()));
        }
    } else if (phases != nullptr) {
        rows.emplace_back("Phases", value_text(phases));
    }
    rows.emplace_back("Blackout", blackout_text(member(report, "blackout_ms")));
    rows.emplace_back("Live updates", value_text(member(report, "live_update_count")));
    // systemd's view of the kexec (262 and later), when luod got it.
    if (const Json* systemd = member(report, "systemd"); systemd != nullptr && systemd->is_object()) {
        rows.emplace_back("systemd kexecs", value_text(member(*systemd, "kexec_count")));
        rows.emplace_back("Previous shutdown", phase_text(member(*systemd, "previous_shutdown_start_usec")) + " to " +
                                                   phase_text(member(*systemd, "previous_shutdown_finish_usec")));
    }
    const Json* outcomes = member(report, "session_outcomes");
    if (outcomes != nullptr && !outcomes->is_array())
        rows.emplace_back("Session outcomes", value_text(outcomes));
    else if (outcomes == nullptr && phases != nullptr && phases->is_object() &&
             member(*phases, update::to_string(update::Phase::restore_ready)) != nullptr)
        rows.emplace_back("Session outcomes", "being read by luod");  // right after a live update
    std::string text = key_value_text(rows);
    // After a live update, what became of each session it carried, one line each:
    // "  NAME: OUTCOME (N files, uid U): REASON".
    if (outcomes != nullptr && outcomes->is_array() && !outcomes->empty()) {
        text += "Session outcomes:\n";
        for (const Json& o : *outcomes) {
            const Json* reason = member(o, "reason");
            std::string why = reason != nullptr && reason->is_string() ? reason->get<std::string>() : "";
            text += "  " + terminal_safe(value_text(member(o, "name"))) + ": " + value_text(member(o, "outcome")) + " (" +
                    value_text(member(o, "files")) + " files, uid " + value_text(member(o, "owner_uid")) + ")" +
                    (why.empty() ? "" : ": " + terminal_safe(why)) + "\n";
        }
    }
    return text;
}

std::string local_time_text(std::uint64_t usec)
{
    constexpr std::uint64_t kUsecPerSecond = 1000000;
    std::uint64_t whole_seconds = usec / kUsecPerSecond;
    if (whole_seconds > static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max()))
        return std::to_string(usec);
    auto seconds = static_cast<std::time_t>(whole_seconds);
    std::tm local{};
    if (localtime_r(&seconds, &local) == nullptr)
        return std::to_string(usec);

    std::array<char, 64> date{};
    if (std::strftime(date.data(), date.size(), "%Y-%m-%dT%H:%M:%S", &local) == 0)
        return std::to_string(usec);
    long offset_minutes = local.tm_gmtoff / 60;
    char sign = offset_minutes < 0 ? '-' : '+';
    if (offset_minutes < 0)
        offset_minutes = -offset_minutes;
    std::array<char, 32> rest{};
    std::snprintf(rest.data(), rest.size(), ".%03u%c%02ld:%02ld",
                  static_cast<unsigned>(usec % kUsecPerSecond / 1000), sign, offset_minutes / 60,
                  offset_minutes % 60);
    return std::string(date.data()) + rest.data();
}

bool update_ended(const UpdateProgress& before, const UpdateProgress& now)
{
    if (now.live_update_count > before.live_update_count) {
        auto report = update::parse_update_report(now.last_update);
        return !report || !*report || !(*report)->outcomes_pending();
    }
    if (same_report(before.last_update, now.last_update))
        return false;
    auto report = update::parse_update_report(now.last_update);
    if (!report || !*report || !(*report)->result)
        return false;
    return update::ended_without_update(*(*report)->result);
}

ExitCode exit_code_for_result(std::string_view result)
{
    std::optional<update::Result> known = update::result_from_string(result);
    if (!known)
        return ExitCode::failure;
    switch (*known) {
    case update::Result::success:
    case update::Result::dry_run:
        return ExitCode::success;
    case update::Result::failed:
    case update::Result::cancelled:
        return ExitCode::update_failed;
    case update::Result::sessions_lost:
        return ExitCode::sessions_lost;
    }
    return ExitCode::failure;
}

std::string outcome_error_line(const Json& report)
{
    std::string result = report_result(report);
    const Json* reason_value = member(report, "reason");
    std::string reason = reason_value != nullptr && reason_value->is_string() ? reason_value->get<std::string>() : "";
    switch (exit_code_for_result(result)) {
    case ExitCode::success:
        return "";
    case ExitCode::sessions_lost:
        return error_line("sessions were lost in the live update", reason.empty() ? "luod gave no reason" : reason, "");
    case ExitCode::update_failed:
        return error_line(update::result_from_string(result) == update::Result::failed ? "the update failed"
                                                                                        : "the update was cancelled",
                          reason.empty() ? "luod gave no reason" : reason, "");
    default:
        return error_line("cannot tell how the update ended",
                          result.empty() ? "luod's report has no result" : "luod reported result '" + result + "'",
                          "");
    }
}

std::string progress_line(const std::string& previous, const std::string& now, bool terminal)
{
    if (now == previous || now.empty())
        return "";
    if (!terminal)
        return "luoctl: state " + terminal_safe(now);
    std::string meaning;
    if (now == "preparing")
        meaning = "waiting for the services' delay inhibitors ('luoctl inhibitors' shows them)";
    else if (now == "rebooting")
        meaning = "the barrier passed; rebooting into the new kernel";
    else if (now == "updated")
        meaning = "the new kernel's luod restored the sessions; their owners claim them";
    else if (now == "loaded")
        meaning = "the update is over; the kernel is still loaded";
    else if (now == "idle")
        meaning = "the update is over";
    std::time_t seconds = std::time(nullptr);
    std::tm local{};
    std::array<char, 16> clock{};
    if (localtime_r(&seconds, &local) == nullptr || std::strftime(clock.data(), clock.size(), "%H:%M:%S", &local) == 0)
        clock[0] = '\0';
    return "luoctl: " + std::string(clock.data()) + " " + terminal_safe(now) + (meaning.empty() ? "" : ": " + meaning);
}

bool luod_not_answering(const CommandError& error)
{
    return error.exit_code() == ExitCode::unreachable || contains(kNotServingYet, error.error_name());
}

bool update_may_have_started(std::string_view error_name)
{
    return contains(kReplyLost, error_name);
}

}  // namespace luo::ctl
