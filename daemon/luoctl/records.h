// SPDX-License-Identifier: Apache-2.0
// Plain snapshots of luod's D-Bus objects: luod_client.cpp fills them from the bus, output.cpp
// prints them. Keeping them free of sdbus types lets the printing be tested without a bus.
#pragma once

#include <cstdint>
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

}  // namespace luo::ctl
