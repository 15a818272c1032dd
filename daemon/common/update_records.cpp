// SPDX-License-Identifier: Apache-2.0
#include "update_records.h"

#include <algorithm>
#include <iterator>

namespace luo::update {

namespace {

using nlohmann::json;

std::string string_member(const json& j, const char* key)
{
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t unsigned_member(const json& j, const char* key)
{
    auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

bool bool_member(const json& j, const char* key)
{
    auto it = j.find(key);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

Phases phases_member(const json& j)
{
    Phases phases;
    auto it = j.find("phases");
    if (it == j.end() || !it->is_object())
        return phases;
    for (const auto& [key, value] : it->items())
        if (value.is_number_unsigned())
            phases.by_key.emplace(key, value.get<std::uint64_t>());
    return phases;
}

json phases_json(const Phases& phases)
{
    json out = json::object();
    for (const auto& [key, usec] : phases.by_key)
        out[key] = usec;
    return out;
}

}  // namespace

bool ended_without_update(Result result)
{
    return result == Result::failed || result == Result::cancelled || result == Result::dry_run;
}

std::string_view to_string(Phase phase)
{
    for (const auto& p : kPhases)
        if (p.phase == phase)
            return p.key;
    return "";
}

bool is_known_phase(std::string_view key)
{
    return std::any_of(kPhases.begin(), kPhases.end(), [&](const PhaseName& p) { return p.key == key; });
}

std::optional<std::uint64_t> Phases::get(Phase phase) const
{
    auto it = by_key.find(to_string(phase));
    return it == by_key.end() ? std::nullopt : std::optional(it->second);
}

UpdateReport UpdateReport::of(const UpdateRecord& record, Result result, std::string reason,
                              std::uint64_t live_update_count)
{
    UpdateReport r;
    r.result = result;
    r.result_text = std::string(to_string(result));
    r.reason = std::move(reason);
    r.strategy = record.strategy;
    r.started_by = record.started_by;
    r.dry_run = record.dry_run;
    r.from_release = record.from_release;
    r.sessions = record.sessions;
    r.files = record.files;
    r.phases = record.phases;
    r.live_update_count = live_update_count;
    return r;
}

std::optional<std::uint64_t> UpdateReport::end_usec() const
{
    if (auto ready = phases.get(Phase::restore_ready))
        return ready;
    std::optional<std::uint64_t> latest;
    for (const auto& p : kPhases)
        if (auto at = phases.get(p.phase); at && (!latest || *at > *latest))
            latest = at;
    return latest;
}

namespace {
// The outcome of `name`: by binary search when the outcomes are in name order (as luod writes
// them: a claim or finish among 100,000 sessions must not walk them all), else by a walk.
template <typename Outcomes>
auto find_outcome(Outcomes& outcomes, const std::string& name)
{
    auto it = std::lower_bound(outcomes.begin(), outcomes.end(), name,
                               [](const SessionOutcome& o, const std::string& n) { return o.name < n; });
    if (it != outcomes.end() && it->name == name)
        return it;
    return std::find_if(outcomes.begin(), outcomes.end(), [&](const SessionOutcome& o) { return o.name == name; });
}
}  // namespace

void UpdateReport::set_outcome(const std::string& name, Outcome outcome, const std::string& why)
{
    if (!outcomes)
        outcomes.emplace();
    auto it = find_outcome(*outcomes, name);
    if (it == outcomes->end()) {
        auto at = std::lower_bound(outcomes->begin(), outcomes->end(), name,
                                   [](const SessionOutcome& o, const std::string& n) { return o.name < n; });
        it = outcomes->insert(at, SessionOutcome{name, 0, 0, {}, {}});
    }
    auto was = kOutcomes.parse(it->outcome);
    bool was_loss = was && is_loss(*was);
    it->outcome = std::string(to_string(outcome));
    it->reason = why;
    // Only a loss, or its end, changes the result and its reason.
    if (was_loss || is_loss(outcome))
        judge_outcomes();
}

void UpdateReport::judge_outcomes()
{
    if (!outcomes || (result != Result::success && result != Result::sessions_lost))
        return;
    std::vector<std::string> lost;
    for (const SessionOutcome& o : *outcomes)
        if (auto known = kOutcomes.parse(o.outcome); known && is_loss(*known))
            lost.push_back(o.name + " " + o.outcome + (o.reason.empty() ? "" : " (" + o.reason + ")"));
    result = lost.empty() ? Result::success : Result::sessions_lost;
    result_text = std::string(to_string(*result));
    if (lost.empty()) {
        reason.clear();
        return;
    }
    // Bounded: the first few by name, then how many more.
    constexpr std::size_t kNamed = 8;
    reason = std::to_string(lost.size()) + (lost.size() == 1 ? " session" : " sessions") + " did not reach " +
             (lost.size() == 1 ? "its owner: " : "their owners: ");
    for (std::size_t i = 0; i < lost.size() && i < kNamed; ++i)
        reason += (i ? "; " : "") + lost[i];
    if (lost.size() > kNamed)
        reason += "; and " + std::to_string(lost.size() - kNamed) + " more";
}

const SessionOutcome* UpdateReport::outcome_of(const std::string& name) const
{
    if (!outcomes)
        return nullptr;
    auto it = find_outcome(*outcomes, name);
    return it == outcomes->end() ? nullptr : &*it;
}

json to_json(const std::optional<UpdateRecord>& record)
{
    if (!record)
        return json::object();
    json out{{"strategy", record->strategy},
             {"started_by", record->started_by},
             {"dry_run", record->dry_run},
             {"from_release", record->from_release},
             {"sessions", record->sessions},
             {"files", record->files},
             {"phases", phases_json(record->phases)}};
    if (!record->boot_id.empty())
        out["boot_id"] = record->boot_id;
    return out;
}

std::optional<UpdateRecord> update_record_from_json(const json& j)
{
    if (!j.is_object() || j.empty())
        return std::nullopt;
    UpdateRecord r;
    r.strategy = string_member(j, "strategy");
    r.started_by = string_member(j, "started_by");
    r.dry_run = bool_member(j, "dry_run");
    r.from_release = string_member(j, "from_release");
    r.sessions = unsigned_member(j, "sessions");
    r.files = unsigned_member(j, "files");
    r.phases = phases_member(j);
    r.boot_id = string_member(j, "boot_id");
    return r;
}

json to_json(const std::optional<UpdateReport>& report)
{
    if (!report)
        return json::object();
    json out{{"result", report->result ? std::string(to_string(*report->result)) : report->result_text},
             {"reason", report->reason},
             {"strategy", report->strategy},
             {"started_by", report->started_by},
             {"dry_run", report->dry_run},
             {"from_release", report->from_release},
             {"to_release", report->to_release},
             {"sessions", report->sessions},
             {"files", report->files},
             {"phases", phases_json(report->phases)},
             {"live_update_count", report->live_update_count}};
    if (report->blackout_ms)
        out["blackout_ms"] = *report->blackout_ms;
    if (report->systemd)
        out["systemd"] = json{{"kexec_count", report->systemd->kexec_count},
                              {"previous_shutdown_start_usec", report->systemd->previous_shutdown_start_usec},
                              {"previous_shutdown_finish_usec", report->systemd->previous_shutdown_finish_usec}};
    if (report->outcomes) {
        json list = json::array();
        for (const SessionOutcome& o : *report->outcomes)
            list.push_back(json{{"name", o.name},
                                {"owner_uid", o.owner_uid},
                                {"files", o.files},
                                {"outcome", o.outcome},
                                {"reason", o.reason}});
        out["session_outcomes"] = std::move(list);
    }
    return out;
}

std::optional<UpdateReport> update_report_from_json(const json& j)
{
    if (!j.is_object() || j.empty())
        return std::nullopt;
    UpdateReport r;
    r.result_text = string_member(j, "result");
    r.result = result_from_string(r.result_text);
    r.reason = string_member(j, "reason");
    r.strategy = string_member(j, "strategy");
    r.started_by = string_member(j, "started_by");
    r.dry_run = bool_member(j, "dry_run");
    r.from_release = string_member(j, "from_release");
    r.to_release = string_member(j, "to_release");
    r.sessions = unsigned_member(j, "sessions");
    r.files = unsigned_member(j, "files");
    r.phases = phases_member(j);
    r.live_update_count = unsigned_member(j, "live_update_count");
    if (auto it = j.find("blackout_ms"); it != j.end() && it->is_number_unsigned())
        r.blackout_ms = it->get<std::uint64_t>();
    if (auto it = j.find("systemd"); it != j.end() && it->is_object())
        r.systemd = SystemdKexecFacts{static_cast<std::uint32_t>(unsigned_member(*it, "kexec_count")),
                                      unsigned_member(*it, "previous_shutdown_start_usec"),
                                      unsigned_member(*it, "previous_shutdown_finish_usec")};
    if (auto it = j.find("session_outcomes"); it != j.end() && it->is_array()) {
        r.outcomes.emplace();
        for (const json& o : *it)
            if (o.is_object())
                r.outcomes->push_back(SessionOutcome{string_member(o, "name"), unsigned_member(o, "owner_uid"),
                                                     unsigned_member(o, "files"), string_member(o, "outcome"),
                                                     string_member(o, "reason")});
    }
    return r;
}

std::optional<std::optional<UpdateReport>> parse_update_report(std::string_view text)
{
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return std::nullopt;
    return update_report_from_json(j);
}

}  // namespace luo::update
