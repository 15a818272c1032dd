// SPDX-License-Identifier: Apache-2.0
// StateStore: the one owner of luod's persistent state (docs/architecture.md §5).
//
// DOC: what it keeps and where
//
// The kernel keeps the sessions but cannot list them or say whose they are. The store keeps
// the rest: the manifest (every session's and file's record, the live-update counter, the
// update in flight and the last report), written into a fixed-size memfd that luod preserves
// at token 0 of its own session "luod", and a second fd of every session, of luod's session
// and of the manifest memfd in systemd's fd store. Nobody else writes either.
//
// DOC: its life
//
// restore() runs once at start (architecture.md §5.4): it tells a first start, a restart
// within the boot, a start after a kexec and a restart during such a restore apart by what
// the fd store passed back and what the kernel still holds, rebuilds the session records,
// makes luod's session and manifest for this boot where needed, and writes the manifest.
// After that, every change of a record reaches write_session()/erase_session() before the
// caller acknowledges it; the registry calls write_session() ahead of each kernel call
// (write-ahead, with `pending` set) and again once the kernel answered.
//
// A change whose manifest would not fit is refused (ApiError limits_exceeded) before
// anything is written, and the store keeps the previous record: the caller undoes its own
// change and nothing is half done.
//
// Each session's encoding is kept until that session changes, so a write costs the encoding
// of one session plus the assembly of the document. The interface is per record on purpose:
// a format of per-session incremental records, or one spread over several memfds, fits
// behind it without changing its callers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "device_access.h"
#include "fd_store.h"
#include "luo/device.h"
#include "luo/unique_fd.h"
#include "manifest.h"
#include "manifest_store.h"
#include "session_record.h"
#include "update_records.h"

namespace luod {

class StateStore {
public:
    StateStore(const Config& config, FdStore& fd_store, DeviceAccess& device);

    // Start-up: the sessions as the fd store's fds (`listen_fds`), the manifest and the
    // kernel say they are; a fresh start when there is nothing. Needs the device started;
    // without it, restores nothing and writes nothing.
    std::map<std::string, SessionRecord> restore(std::vector<std::pair<std::string, luo::UniqueFd>> listen_fds);

    // Whether this start restored sessions from a live update.
    [[nodiscard]] bool restored_from_update() const { return restored_from_update_; }
    [[nodiscard]] const std::string& boot_id() const { return boot_id_; }
    [[nodiscard]] std::uint64_t live_update_count() const { return live_update_count_; }
    // The update in flight (its phases so far) and the last update's report: kept across
    // restarts and the kexec.
    [[nodiscard]] const std::optional<luo::update::UpdateRecord>& update_record() const { return update_; }
    [[nodiscard]] const std::optional<luo::update::UpdateReport>& last_update() const { return last_update_; }
    void set_update_record(std::optional<luo::update::UpdateRecord> record);
    void set_last_update(std::optional<luo::update::UpdateReport> report);

    // A session's record as it is now (added or changed); written before returning.
    // Throws ApiError(limits_exceeded) when the manifest would no longer fit, and
    // ApiError(failed) when writing fails; either way the stored record is the previous one.
    void write_session(const SessionRecord& session);
    // A session gone; written before returning.
    void erase_session(const std::string& name);

    // The fd store's copy of a session fd, which keeps the session alive across a crash of
    // luod. drop_fd() returns once the service manager has closed its copy.
    void keep_fd(luo::SessionKind kind, const std::string& name, int fd);
    void drop_fd(luo::SessionKind kind, const std::string& name);

private:
    using Sessions = std::map<std::string, SessionRecord>;

    void restore_from_fd_store(Sessions& sessions, std::map<std::string, luo::UniqueFd>& fds);
    void restore_after_update(Sessions& sessions, luo::Session luod, std::map<std::string, luo::UniqueFd>& carried);
    void start_fresh();
    // Takes luod's own session and manifest, writes the manifest, and only then puts both in
    // the fd store: whatever the store holds is complete.
    void attach_luod_session(luo::Session session, ManifestStore store);
    void finish_previous_luod_session(luo::Session previous);
    // A restored record joins `sessions` and the manifest (written with the next write).
    void adopt(Sessions& sessions, SessionRecord record);
    [[nodiscard]] static std::string encode(const SessionRecord& session);
    // The manifest as it stands.
    [[nodiscard]] std::string manifest_text() const;
    // Writes the manifest; throws ApiError(limits_exceeded) when it no longer fits.
    void persist();

    const Config& config_;
    FdStore& fd_store_;
    DeviceAccess& device_;

    luo::Session luod_session_;  // luod's own session; the manifest is token 0
    std::optional<ManifestStore> manifest_;
    std::string boot_id_;
    std::uint64_t live_update_count_ = 0;
    bool restored_from_update_ = false;
    std::optional<luo::update::UpdateRecord> update_;
    std::optional<luo::update::UpdateReport> last_update_;
    std::map<std::string, std::string> encoded_;  // each session's manifest JSON, by name
};

}  // namespace luod
