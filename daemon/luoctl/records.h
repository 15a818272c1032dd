// SPDX-License-Identifier: Apache-2.0
// Plain snapshots of luod's D-Bus objects and plain requests to it: luod_client.cpp fills and
// sends them over the bus, output.cpp and update_report.cpp print and judge them. Keeping them
// free of sdbus types lets that be tested without a bus.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace luo::ctl {

// The properties of org.luod.LiveUpdate1.Manager that `luoctl status` shows.
struct ManagerStatus {
    std::string version;
    std::string backend;
    std::string state;
    std::string kernel_state;  // "" when the kernel has no liveupdate state file
    bool kexec_loaded = false;
    std::uint32_t sessions = 0;
    std::uint32_t incoming_sessions = 0;
    std::uint64_t live_update_count = 0;
    std::vector<std::string> kernel_features;
};

// One entry of Manager.ListSessions().
struct SessionSummary {
    std::string name;
    std::string kind;
    std::uint32_t owner_uid = 0;
    std::string owner_unit;  // "" when the creator ran outside any systemd unit
    std::string path;
};

// One entry of Session.Files.
struct SessionFile {
    std::string label;
    std::uint64_t token = 0;
    std::string type;
};

// The properties of one org.luod.LiveUpdate1.Session object.
struct SessionDetails {
    std::string name;
    std::string kind;
    std::string state;
    std::uint32_t owner_uid = 0;
    std::string owner_unit;
    std::string path;
    std::uint32_t file_count = 0;
    std::vector<SessionFile> files;
};

// One entry of Manager.Check().
struct CheckResult {
    std::string id;
    std::string verdict;  // "pass", "warn" or "fail"
    std::string detail;
};

// One entry of Manager.ListInhibitors().
struct InhibitorEntry {
    std::string who;
    std::string why;
    std::string mode;  // "delay" or "block"
    std::uint32_t uid = 0;
    std::uint32_t pid = 0;
};

// Manager.LoadKernel's arguments.
struct KernelLoadRequest {
    std::string kernel;  // absolute path, opened by luod
    std::string initrd;  // absolute path, "" for none
    std::string cmdline;
    bool reuse_cmdline = false;        // option ReuseCmdline
    bool no_liveupdate_flags = false;  // option NoLiveUpdateFlags
};

// Manager.Update's options.
struct UpdateRequest {
    bool dry_run = false;                             // DryRun
    bool force = false;                               // Force
    std::optional<std::uint64_t> delay_timeout_usec;  // DelayTimeoutUSec, sent only when given
    std::optional<std::string> strategy;              // Strategy, sent only when given
};

// Manager.Inhibit's arguments ("what" is always "update").
struct InhibitRequest {
    std::string who;
    std::string why;
    std::string mode;  // "delay" or "block"
};

// What 'luoctl metrics' reads: the Manager's properties (one Properties.GetAll) and the sum of
// FileCount over the sessions ListSessions returned to the caller (every session for root).
struct MetricsSnapshot {
    ManagerStatus status;
    std::string last_update;  // LastUpdate as luod sent it
    std::uint64_t files = 0;
};

// What tells whether an update happened: the Manager's LiveUpdateCount and LastUpdate, read
// together (one Properties.GetAll).
struct UpdateProgress {
    std::string state;  // the Manager's State: "preparing", "rebooting", ...
    std::uint64_t live_update_count = 0;
    std::string last_update;  // the JSON report as luod sent it, "{}" before any update
};

}  // namespace luo::ctl
