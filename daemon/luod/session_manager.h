// SPDX-License-Identifier: Apache-2.0
// SessionManager: luod's sessions, kept for services. It owns /dev/liveupdate (through
// libluo), holds its own reference to every session fd, records owners and labels, enforces
// access and quotas, and persists everything on every change: the manifest (token 0 of
// luod's "luod" session) and systemd's fd store. It knows nothing of D-Bus; the D-Bus layer
// calls it with the caller's identity and observes its changes.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "fd_store.h"
#include "luo/device.h"
#include "luo/unique_fd.h"
#include "manifest.h"
#include "manifest_store.h"

namespace luod {

struct Owner {
    uid_t uid = 0;
    std::string unit;  // systemd unit, "" outside any
};

// Who is calling: uid from the bus (trustworthy), unit from the pid's cgroup (a hint).
struct Caller {
    uid_t uid = 0;
    pid_t pid = 0;
    std::string unit;
    [[nodiscard]] bool is_root() const { return uid == 0; }
    [[nodiscard]] Owner as_owner() const { return {uid, unit}; }
};

enum class SessionState { open, incoming, retrieved, finished };
const char* to_string(SessionState state);

struct FileRecord {
    std::string label;
    std::uint64_t token = 0;
    std::string type;      // "memfd", "vfio", "file"
    bool pending = false;  // recorded before the kernel call; unknown whether it went through
    std::string device;    // vfio: the device node it was opened from (for the freeze checks)
    dev_t dev = 0;         // identity of the preserved file, to refuse preserving it twice
    ino_t ino = 0;
    mutable std::string encoded;  // its manifest JSON, kept until it changes
};

struct SessionRecord {
    std::string name;
    luo::SessionKind kind = luo::SessionKind::outgoing;
    SessionState state = SessionState::open;
    Owner owner;
    std::uint64_t created_usec = 0;
    std::uint64_t next_token = 1;
    std::vector<FileRecord> files;
    luo::Session kernel;  // luod's reference; empty while an incoming session is unclaimed
    bool pending = false; // recorded before the kernel created it (write-ahead)
};

// Who follows changes: the D-Bus layer and the update controller.
class SessionObserver {
public:
    virtual ~SessionObserver() = default;
    virtual void session_added(const SessionRecord& session) = 0;
    virtual void session_removed(const std::string& name) = 0;
    virtual void session_changed(const SessionRecord& session, const std::vector<std::string>& properties) = 0;
};

struct FileToPreserve {
    int fd = -1;
    std::string label;
};

class SessionManager {
public:
    SessionManager(Config config, std::filesystem::path root, FdStore& fd_store);

    // Start-up: opens the device (a missing or busy device leaves luod running without it,
    // every session call then fails with DeviceUnavailable), probes the kernel, and restores
    // the sessions passed back by the fd store, or starts afresh.
    //
    // After a live update it finds its own "luod" session (retrieved from the kernel, or
    // carried back by systemd with the other sessions in LISTEN_FDS), reads the manifest
    // from its token 0, and offers every session that came across as incoming.
    void start(std::vector<std::pair<std::string, luo::UniqueFd>> listen_fds);
    void add_observer(SessionObserver* observer) { observers_.push_back(observer); }
    void remove_observer(SessionObserver* observer) { std::erase(observers_, observer); }

    // The update side: whether this start restored sessions from a live update, and the
    // manifest's update records (kept across the kexec).
    [[nodiscard]] bool restored_from_update() const { return restored_from_update_; }
    // When this luod started (CLOCK_REALTIME, microseconds).
    [[nodiscard]] std::uint64_t started_usec() const { return started_usec_; }
    [[nodiscard]] std::uint64_t live_update_count() const { return live_update_count_; }
    [[nodiscard]] const nlohmann::json& update_record() const { return update_; }
    [[nodiscard]] const nlohmann::json& last_update() const { return last_update_; }
    void set_update_record(nlohmann::json record);
    void set_last_update(nlohmann::json report);
    // Releases incoming sessions nobody claimed: their memory is freed (FINISH), each logged.
    std::size_t release_unclaimed();
    // The systemd strategy hands the device to systemd-shutdown; sessions are unaffected.
    void release_device() { device_.close(); }
    void reopen_device() { open_device(); }
    [[nodiscard]] std::size_t file_count() const;

    // The API. Every call checks the caller's rights and throws ApiError.
    SessionRecord& create(const Caller& caller, const std::string& name, const std::optional<Owner>& on_behalf);
    SessionRecord& get(const Caller& caller, const std::string& name);
    [[nodiscard]] std::vector<const SessionRecord*> list(const Caller& caller) const;
    std::vector<std::uint64_t> preserve(const Caller& caller, const std::string& name,
                                        const std::vector<FileToPreserve>& files);
    // Claims an incoming session for its owner: retrieved from the kernel on first claim.
    SessionRecord& retrieve_session(const Caller& caller, const std::string& name);
    luo::UniqueFd acquire_fd(const Caller& caller, const std::string& name);
    luo::UniqueFd retrieve_fd(const Caller& caller, const std::string& name, const std::string& label);
    void finish(const Caller& caller, const std::string& name);
    void close(const Caller& caller, const std::string& name);
    // Whether `caller` may see and use `session`.
    [[nodiscard]] static bool may_access(const Caller& caller, const SessionRecord& session);

    // State for properties and checks.
    [[nodiscard]] const SessionRecord* find(const std::string& name) const;
    [[nodiscard]] const std::map<std::string, SessionRecord>& sessions() const { return sessions_; }
    [[nodiscard]] std::size_t outgoing_count() const;
    [[nodiscard]] std::size_t incoming_count() const;
    [[nodiscard]] bool device_available() const { return device_.valid(); }
    [[nodiscard]] luo::Transport transport() const { return transport_; }
    [[nodiscard]] const luo::Features& features() const { return features_; }
    [[nodiscard]] std::vector<std::string> feature_names() const;
    [[nodiscard]] const std::filesystem::path& root() const { return root_; }
    [[nodiscard]] const std::string& boot_id() const { return boot_id_; }
    [[nodiscard]] const Config& config() const { return config_; }

private:
    void open_device();
    void restore_from_fd_store(std::map<std::string, luo::UniqueFd>& fds);
    void restore_after_update(luo::Session luod, std::map<std::string, luo::UniqueFd>& carried);
    void start_fresh();
    // Takes luod's own session and manifest, writes the manifest, and only then puts both in
    // the fd store: whatever the store holds is complete.
    void attach_luod_session(luo::Session session, ManifestStore store);
    void finish_previous_luod_session(luo::Session previous);
    [[nodiscard]] ManifestSession manifest_entry(const SessionRecord& session) const;
    // The manifest as it stands; each session's JSON is kept until touch()ed.
    [[nodiscard]] std::string manifest_text() const;
    void touch(const std::string& name) { encoded_.erase(name); }
    // Writes the manifest; throws ApiError(limits_exceeded) when it no longer fits.
    void persist();
    [[nodiscard]] bool manifest_fits() const;
    SessionRecord& require(const Caller& caller, const std::string& name);
    void require_device() const;
    void release(const std::string& name);
    void notify_changed(const SessionRecord& session, const std::vector<std::string>& properties);
    void notify_added(const SessionRecord& session);
    void notify_removed(const std::string& name);
    [[nodiscard]] std::string classify(int fd, const struct ::stat& st) const;

    Config config_;
    std::filesystem::path root_;
    FdStore& fd_store_;
    std::vector<SessionObserver*> observers_;

    luo::Device device_;
    luo::Transport transport_ = luo::Transport::kernel;
    luo::Features features_;
    luo::Session luod_session_;             // luod's own session; the manifest is token 0
    std::optional<ManifestStore> manifest_;
    std::string boot_id_;
    std::uint64_t live_update_count_ = 0;
    bool restored_from_update_ = false;
    std::uint64_t started_usec_ = 0;
    nlohmann::json update_ = nlohmann::json::object();
    nlohmann::json last_update_ = nlohmann::json::object();
    std::map<std::string, SessionRecord> sessions_;
    mutable std::map<std::string, std::string> encoded_;  // manifest JSON per session
};

}  // namespace luod
