// SPDX-License-Identifier: Apache-2.0
// 'luoctl metrics': luod's figures for monitoring, in the Prometheus text exposition format
// 0.0.4 (for node_exporter's textfile collector) or as a JSON object with the same values.
// The metric names and JSON keys are stable: dashboards and alerts rely on them. Pure apart
// from write_file_atomically(), so it is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "output.h"
#include "records.h"
#include "update_records.h"

namespace luo::ctl {

// The values behind the metrics. Default-constructed: luod's figures could not be read (up is
// false).
struct Metrics {
    bool up = false;
    std::uint64_t live_updates_total = 0;  // LiveUpdateCount
    std::uint32_t sessions = 0;            // Sessions (outgoing)
    std::uint32_t incoming_sessions = 0;   // IncomingSessions
    std::uint64_t files = 0;               // FileCount summed over the sessions listed
    std::string state;                     // State
    bool kexec_loaded = false;             // KexecLoaded
    // From LastUpdate; empty/absent before any attempt (or when LastUpdate is not a JSON object).
    std::string last_update_result;                      // "success", "failed", "cancelled", "dry-run"
    std::optional<std::uint64_t> last_update_blackout_ms;  // blackout_ms
    std::optional<std::uint64_t> last_update_end_usec;     // phases.restore_ready, else the latest phase
    bool last_update_failed = false;                     // result "failed" or "cancelled"
};

// The states and results every scrape shows a series for (0 or 1), in this order. A value
// outside these lists (from a newer luod) gets a series of its own.
inline constexpr auto kMetricStates = luo::update::kStates.all_names();
inline constexpr auto kMetricResults = luo::update::kResults.all_names();

// The metrics of a luod that answered (up is true).
Metrics metrics_from(const MetricsSnapshot& snapshot);

// The text exposition: # HELP and # TYPE for each metric, then its samples. When luod's figures
// could not be read, only luod_up 0. Metrics without a value (no blackout recorded, no update yet) are left
// out rather than shown as 0.
std::string metrics_text(const Metrics& metrics);

// {"up", "live_updates_total", "sessions", "incoming_sessions", "files", "state",
//  "kexec_loaded", "last_update_result", "last_update_blackout_seconds",
//  "last_update_timestamp_seconds", "last_update_failed"}: the values of metrics_text(), a
// missing one as null; {"up": false} alone when luod's figures could not be read.
Json metrics_json(const Metrics& metrics);

// A count of microseconds (or milliseconds, with `digits` 3) as decimal seconds, exact and
// without trailing zeros: 1500000 -> "1.5", 42 (ms) -> "0.042", 2000 (ms) -> "2".
std::string decimal_seconds(std::uint64_t count, int digits);

// A label value in the exposition format: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

// Replaces `path` with `contents` so that a reader sees the old or the new file, never a part:
// writes `path`.tmp (mode 0644, for node_exporter's user), then renames it over `path`. Throws
// CommandError (ExitCode::failure) naming the file, leaving no .tmp behind.
void write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace luo::ctl
