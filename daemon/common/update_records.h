// SPDX-License-Identifier: Apache-2.0
// The records of a live update, shared by luod (which writes them) and luoctl (which reads
// them): the update in flight, kept in luod's manifest across the kexec, and the report of
// the last attempt, the Manager's LastUpdate property (documented with it in
// dbus/org.luod.LiveUpdate1.Manager.xml). One definition of their keys, results and phases,
// so neither side parses the JSON its own way.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "string_table.h"

namespace luo::update {

// The Manager's State property: where the update is.
enum class State { idle, loaded, preparing, rebooting, updated };
inline constexpr StringTable<State, 5> kStates{{{
    {State::idle, "idle"},
    {State::loaded, "loaded"},
    {State::preparing, "preparing"},
    {State::rebooting, "rebooting"},
    {State::updated, "updated"},
}}};
inline std::string_view to_string(State state) { return kStates.name(state); }

// A pre-flight check's verdict (Manager.Check): a "fail" refuses the update unless forced.
enum class Verdict { pass, warn, fail };
inline constexpr StringTable<Verdict, 3> kVerdicts{{{
    {Verdict::pass, "pass"},
    {Verdict::warn, "warn"},
    {Verdict::fail, "fail"},
}}};
inline std::string_view to_string(Verdict verdict) { return kVerdicts.name(verdict); }

// How an attempt ended. "sessions-lost": the kernel was updated, but at least one session
// did not reach its owner (lost, or released unclaimed): never reported as a success.
enum class Result { success, failed, cancelled, dry_run, sessions_lost };
inline constexpr StringTable<Result, 5> kResults{{{
    {Result::success, "success"},
    {Result::failed, "failed"},
    {Result::cancelled, "cancelled"},
    {Result::dry_run, "dry-run"},
    {Result::sessions_lost, "sessions-lost"},
}}};
inline std::string_view to_string(Result result) { return kResults.name(result); }
inline std::optional<Result> result_from_string(std::string_view text) { return kResults.parse(text); }
// Whether the attempt is over without the kernel changing (failed, cancelled, dry-run):
// what 'luoctl update --wait' waits for besides the live-update count growing.
bool ended_without_update(Result result);

// The phases of an update, in the order they happen.
enum class Phase { update_requested, barrier_passed, reboot_called, first_start, restore_ready, all_finished };
struct PhaseName {
    Phase phase;
    std::string_view key;    // in the JSON
    std::string_view label;  // for people
};
inline constexpr std::array<PhaseName, 6> kPhases{{
    {Phase::update_requested, "update_requested", "Update requested"},
    {Phase::barrier_passed, "barrier_passed", "Barrier passed"},
    {Phase::reboot_called, "reboot_called", "Reboot called"},
    {Phase::first_start, "first_start", "First start"},
    {Phase::restore_ready, "restore_ready", "Restore ready"},
    {Phase::all_finished, "all_finished", "All finished"},
}};
std::string_view to_string(Phase phase);
bool is_known_phase(std::string_view key);

// When each phase was reached (CLOCK_REALTIME, microseconds), by JSON key: a report from a
// newer luod may name phases this one does not know, and they are kept.
struct Phases {
    std::map<std::string, std::uint64_t, std::less<>> by_key;
    void set(Phase phase, std::uint64_t usec) { by_key[std::string(to_string(phase))] = usec; }
    [[nodiscard]] std::optional<std::uint64_t> get(Phase phase) const;
    [[nodiscard]] bool has(Phase phase) const { return get(phase).has_value(); }
    bool operator==(const Phases&) const = default;
};

// What became of one session the update carried, in the order it can happen: it crossed
// (the next kernel's luod has its record), its owner claimed it, finished it; or nobody
// claimed it in time and luod released it; or it is lost (the kernel did not carry it, or
// it could not be retrieved), with the reason.
enum class Outcome { crossed, claimed, finished, released, lost };
inline constexpr StringTable<Outcome, 5> kOutcomes{{{
    {Outcome::crossed, "crossed"},
    {Outcome::claimed, "claimed"},
    {Outcome::finished, "finished"},
    {Outcome::released, "released-unclaimed"},
    {Outcome::lost, "lost"},
}}};
inline std::string_view to_string(Outcome outcome) { return kOutcomes.name(outcome); }
// Whether the session's owner did not get its state back.
inline bool is_loss(Outcome outcome) { return outcome == Outcome::released || outcome == Outcome::lost; }

struct SessionOutcome {
    std::string name;
    std::uint64_t owner_uid = 0;
    std::uint64_t files = 0;       // files recorded in it at the reboot
    std::string outcome;           // kOutcomes' name; kept as written when unknown
    std::string reason;            // why, for "lost" and "released-unclaimed"
    bool operator==(const SessionOutcome&) const = default;
};

// Who started a kexec, as the report says it (JSON "started_by"): luod's own Update (luoctl
// update), a kexec.target job luod did not start but saw (a plain `systemctl kexec`), or
// neither that luod knows of: no record came across (luod was not running, or did not see it).
inline constexpr std::string_view kStartedByLuod = "luod";
inline constexpr std::string_view kStartedBySystemctl = "systemctl kexec";
inline constexpr std::string_view kStartedByUnknown = "unknown";

// The update in flight, as luod keeps it in its manifest until the attempt ends.
struct UpdateRecord {
    std::string strategy;  // "direct", "systemd" or "orderly"
    std::string started_by;  // kStartedBy*; "" in a record of an older luod
    bool dry_run = false;
    std::string from_release;
    std::uint64_t sessions = 0;
    std::uint64_t files = 0;
    Phases phases;
    std::string boot_id;  // set when the reboot is called: the next start tells a kexec by it
    bool operator==(const UpdateRecord&) const = default;
};

// What systemd (262 and later) says about the kexec that started this boot: its own count of
// kexecs since the last cold boot and the previous boot's shutdown (CLOCK_REALTIME usec,
// 0 when it did not record one).
struct SystemdKexecFacts {
    std::uint32_t kexec_count = 0;
    std::uint64_t previous_shutdown_start_usec = 0;
    std::uint64_t previous_shutdown_finish_usec = 0;
    bool operator==(const SystemdKexecFacts&) const = default;
};

// The report of the last attempt (LastUpdate).
struct UpdateReport {
    std::optional<Result> result;  // nullopt: absent, or a result this luoctl does not know
    std::string result_text;       // as written, even when unknown
    std::string reason;
    std::string strategy;
    std::string started_by;  // kStartedBy*; "" in a report of an older luod
    bool dry_run = false;
    std::string from_release;
    std::string to_release;
    std::uint64_t sessions = 0;  // at the reboot (at the request until then)
    std::uint64_t files = 0;
    Phases phases;
    std::uint64_t live_update_count = 0;
    // After a live update: what became of each session it carried (JSON "session_outcomes",
    // present once the next kernel's luod restored).
    std::optional<std::vector<SessionOutcome>> outcomes;
    std::optional<std::uint64_t> blackout_ms;  // after a live update: reboot called → restore ready
    // After a live update, when systemd told (JSON "systemd").
    std::optional<SystemdKexecFacts> systemd;
    bool operator==(const UpdateReport&) const = default;

    // The report of an attempt that ended with `result`, from what its record says.
    static UpdateReport of(const UpdateRecord& record, Result result, std::string reason,
                           std::uint64_t live_update_count);
    // When the attempt ended, as far as the report tells: restore_ready after a live update,
    // else the latest phase it reached.
    [[nodiscard]] std::optional<std::uint64_t> end_usec() const;
    // Records `outcome` for the session `name` (added when new, in name order). After a live
    // update, the result then follows the outcomes: "sessions-lost" as soon as one is a loss,
    // with a reason naming them. Outcomes in name order (as luod writes them) are found by
    // binary search, others by a walk.
    void set_outcome(const std::string& name, Outcome outcome, const std::string& reason = "");
    [[nodiscard]] const SessionOutcome* outcome_of(const std::string& name) const;
    // Sets result and reason from the outcomes (after a live update only).
    void judge_outcomes();
    // Right after a live update luod reports what it knows so far, and the session outcomes
    // once it has read the sessions that came across (a PropertiesChanged follows).
    [[nodiscard]] bool outcomes_pending() const { return phases.has(Phase::restore_ready) && !outcomes; }
};

// The JSON forms. An empty object stands for "none" (no update in flight, no attempt yet).
// Reading is lenient: a member missing or of another type is left at its default.
nlohmann::json to_json(const std::optional<UpdateRecord>& record);
std::optional<UpdateRecord> update_record_from_json(const nlohmann::json& json);
nlohmann::json to_json(const std::optional<UpdateReport>& report);
std::optional<UpdateReport> update_report_from_json(const nlohmann::json& json);
// LastUpdate's text; nullopt when it is not a JSON object, an empty optional inside for "{}".
std::optional<std::optional<UpdateReport>> parse_update_report(std::string_view text);

}  // namespace luo::update
