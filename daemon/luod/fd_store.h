// SPDX-License-Identifier: Apache-2.0
// systemd's file descriptor store (sd_notify FDSTORE=1 / FDNAME=, FDSTOREREMOVE=1; back at
// the next start through LISTEN_FDS / LISTEN_FDNAMES). luod parks every session fd and its
// manifest there, so a crash or restart of luod releases nothing: the kernel ends a session
// only when its last fd is closed, and systemd holds one.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "luo/device.h"
#include "luo/unique_fd.h"

namespace luod {

class FdStore {
public:
    // Enabled when luod runs under a service manager ($NOTIFY_SOCKET); warns when not.
    FdStore();
    [[nodiscard]] bool enabled() const { return enabled_; }

    // Returns false (and logs) when the service manager refused: crash safety is degraded.
    bool store(const std::string& name, int fd);
    // Returns once the service manager has dropped the fds of that name (BARRIER=1).
    void remove(const std::string& name);
    // The fd stored as `from` is stored as `to` instead (a session restored after a kexec:
    // outgoing then, incoming now); `fd` is the same open file. Nothing waits for the service
    // manager to drop the old name: the file stays open (as `fd`, and under `to`), so no
    // session ends. Returns what store() returns.
    bool rename(const std::string& from, const std::string& to, int fd);

    // The fds passed at this start, with their names; each is taken once.
    static std::vector<std::pair<std::string, luo::UniqueFd>> take_listen_fds();

    // Names used in the store (FDNAME allows no ':' or control characters, so session names
    // are hex-encoded).
    static std::string session_name(luo::SessionKind kind, std::string_view session);
    static constexpr const char* kManifestName = "luod-manifest";
    // A segment of the manifest's log, by its token in luod's session.
    static std::string segment_name(std::uint64_t token) { return "luod-manifest-" + std::to_string(token); }

private:
    bool enabled_;
};

}  // namespace luod
