// SPDX-License-Identifier: Apache-2.0
// StateStore: the one owner of luod's persistent state (docs/architecture.md §5).
//
// DOC: what it keeps and where
//
// The kernel keeps the sessions but cannot list them or say whose they are. The store keeps
// the rest: the manifest (every session's and file's record, the live-update counter, the
// update in flight and the last report), and a second fd of every session, of luod's session
// and of the manifest's memfds in systemd's fd store. Nobody else writes either.
//
// The manifest is a log (manifest_log.h) in memfd segments preserved at tokens 1, 2, ... of
// luod's own session "luod"; a small index at token 0 (manifest_store.h, two slots) names
// the segments of the log and of a spare chain. A change appends one entry with only what
// changed (a session's header, the files added, changed or dropped; or the update record),
// so a write costs what changed, not the whole manifest, and the last write before the
// reboot is one small entry. When the log is full, it grows by a segment, or, when most of
// it is records overwritten since, the live records are written afresh into the spare chain
// (grown as needed) and the index switches to it: a crash at any instant leaves the index
// naming a whole log.
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
// A change written ahead of a kernel call (Write::ahead) must leave the log a reserve
// (kManifestReserve) after it, growing the log first; when it cannot grow (out of memory, or
// luod's session holds the most files the kernel allows) the change is refused
// (ApiError limits_exceeded) before anything is written, and the store keeps the previous
// record: the caller undoes its own change and nothing is half done. Outcomes of kernel calls
// and the update's records may use the reserve, so an update or a kernel call already made
// is always recorded.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clock.h"
#include "config.h"
#include "device_access.h"
#include "fd_store.h"
#include "luo/device.h"
#include "luo/unique_fd.h"
#include "manifest.h"
#include "manifest_log.h"
#include "manifest_store.h"
#include "session_record.h"
#include "update_records.h"

namespace luod {

// Room in the manifest kept for the outcomes of kernel calls already made and for the
// update's own records, which must never be refused.
inline constexpr std::size_t kManifestReserve = 64 * 1024;

class StateStore {
public:
    // Whether a write records a change ahead of the kernel call (refused when the manifest
    // cannot keep its reserve after it) or the outcome of one (may use the reserve).
    enum class Write { ahead, outcome };

    StateStore(const Config& config, FdStore& fd_store, DeviceAccess& device);

    // Start-up: the sessions as the fd store's fds (`listen_fds`), the manifest and the
    // kernel say they are; a fresh start when there is nothing. Needs the device started;
    // without it, restores nothing and writes nothing.
    std::map<std::string, SessionRecord> restore(std::vector<std::pair<std::string, luo::UniqueFd>> listen_fds);
    // The steps of restore() after a kexec become laps of `clock` (luod's start-up line).
    void time_start_up(StartupClock* clock) { clock_ = clock; }

    // After a live update, the sessions of the manifest that came across are restored one at
    // a time, when first needed or in the background (restore_session()), not before luod is
    // ready: the number not restored yet. They are all incoming and unclaimed. Which they are
    // is known once the manifest's log is walked, which a start after an update leaves until
    // one of these is first asked (walk_previous_log()).
    [[nodiscard]] std::size_t unrestored();
    [[nodiscard]] bool is_unrestored(const std::string& name);
    // Up to `most` of their names.
    [[nodiscard]] std::vector<std::string> unrestored_names(std::size_t most);
    // Up to `most` of their names that sort after `after`, in order.
    [[nodiscard]] std::vector<std::string> unrestored_after(const std::string& after, std::size_t most);
    // Whether sessions of the update may still wait to be restored, without walking the log.
    [[nodiscard]] bool restore_pending() const { return walk_pending_ || !unrestored_.empty(); }
    // Whether the manifest that came across is still to be walked: until it is, which sessions
    // it names (and their owners) is not known. Every member above that needs them finishes
    // the walk at once; walk_some() does it a bounded step at a time, for the event loop.
    [[nodiscard]] bool walk_pending() const { return walk_pending_; }
    // Walks up to `most` more entries of it; true once it is walked (at once when it was).
    // A log that cannot be read ends the walk with no session (logged).
    bool walk_some(std::size_t most);
    // Restores `name` (recorded in this boot's manifest before it returns); nullopt when it is
    // not unrestored, or its records cannot be read (logged). The last one lets go of luod's
    // session from before the update.
    std::optional<SessionRecord> restore_session(const std::string& name);
    // What restoring `name` will make of it, told without restoring it (its entries are read
    // and replayed; nothing is written, no fd moves): its owner and number of files, or
    // nullopt when restoring drops it (its records cannot be read, or it is an incoming
    // session of the update before that nobody claimed) or it is not unrestored. Kept until
    // it is restored, so listings and the report need no restore (issue 12).
    struct Glance {
        Owner owner;
        std::size_t files = 0;
        std::uint64_t bytes = 0;  // the files' sizes
    };
    [[nodiscard]] std::optional<Glance> glance(const std::string& name);
    // Glances at up to `most` more of the sessions not restored yet, in name order; true once
    // every one has been (a listing of every owner's sessions then reads no entry). For the
    // event loop, a bounded step at a time.
    bool glance_some(std::size_t most);

    // Whether this start restored sessions from a live update.
    [[nodiscard]] bool restored_from_update() const { return restored_from_update_; }
    [[nodiscard]] const std::string& boot_id() const { return boot_id_; }
    [[nodiscard]] std::uint64_t live_update_count() const { return live_update_count_; }
    // The update in flight (its phases so far) and the last update's report: kept across
    // restarts and the kexec.
    [[nodiscard]] const std::optional<luo::update::UpdateRecord>& update_record() const { return update_; }
    [[nodiscard]] const std::optional<luo::update::UpdateReport>& last_update() const { return last_update_; }
    // What the manifest costs: the log's segments, bytes written and entries, and the bytes
    // the last write appended (for tests and benchmarks).
    struct ManifestUsage {
        std::size_t segments = 0, capacity = 0, end = 0, last_write = 0;
        std::uint64_t epoch = 0, entries = 0;
    };
    [[nodiscard]] ManifestUsage manifest_usage() const;
    void set_update_record(std::optional<luo::update::UpdateRecord> record);
    void set_last_update(std::optional<luo::update::UpdateReport> report);
    // Changes the last report in place, in memory only (a session's outcome: rewriting a
    // report of 100,000 outcomes at each claim would cost O(n) a claim). It reaches the
    // manifest with the next state entry or flush_last_update(). False without a report.
    bool change_last_update(const std::function<void(luo::update::UpdateReport&)>& change);
    void flush_last_update();
    [[nodiscard]] bool last_update_unwritten() const { return last_update_unwritten_; }

    // A session's record as it is now (added or changed); written before returning.
    // Throws ApiError(limits_exceeded) when the manifest would no longer fit, and
    // ApiError(failed) when writing fails; either way the stored record is the previous one.
    void write_session(const SessionRecord& session, Write kind = Write::outcome);
    // A session gone; written before returning.
    void erase_session(const std::string& name);

    // The fd store's copy of a session fd, which keeps the session alive across a crash of
    // luod. drop_fd() returns once the service manager has closed its copy.
    void keep_fd(luo::SessionKind kind, const std::string& name, int fd);
    void drop_fd(luo::SessionKind kind, const std::string& name);

    // The manifest's memfds (its index and the log's segments) leave the fd store while a
    // kexec through systemd is under way, and come back if it does not happen. luod's own
    // session preserves them already; systemd-shutdown (261 and later) would offer them to
    // the kernel a second time, which fails (EBUSY) and is logged as "will be lost across
    // kexec". While withheld, a luod restart would not find the manifest: only a kexec job
    // that systemd runs (and that stops luod) may withhold it. Both are idempotent.
    void withhold_manifest_from_fd_store();
    void return_manifest_to_fd_store();

private:
    using Sessions = std::map<std::string, SessionRecord>;

    void restore_from_fd_store(Sessions& sessions, std::map<std::string, luo::UniqueFd>& fds);
    void restore_after_update(Sessions& sessions, luo::Session luod, std::map<std::string, luo::UniqueFd>& carried);
    // Every session of the manifest before the update that `keep` says to restore becomes
    // unrestored, with the fd systemd carried for it, if any (taken from `carried`).
    void leave_unrestored(ManifestScan scan, std::map<std::string, luo::UniqueFd>& carried,
                          const std::function<bool(const std::string&)>& keep);
    // Every session restored: the manifest says so, and luod's session from before goes.
    void finish_restoring();
    // The fast way through the manifest that came across (a log; false for an older luod's
    // whole document): the log's entries are walked without reading them, sorted by session
    // from their first bytes, and left unrestored by offset; only the last state entry is read
    // (into `state`). The log stays open for restore_session(). Throws.
    // With `may_defer`, when the index says where the final state entry is and it is the
    // log's last, only that entry is read now and the walk (and the matching of the fds
    // systemd carried with the sessions) waits for walk_previous_log().
    // `previous` (luod's session from before) outlives the log: its segments are retrieved when read.
    bool walk_manifest(const ManifestStore& index, luo::Session& previous, Manifest& state, bool may_defer);
    // Walks `log` (see walk_manifest), leaving each session it names unrestored by where its
    // entries are; the offset of the last state entry. Throws.
    std::optional<std::size_t> sort_log(ManifestLog& log);
    // The walk left until luod is ready, finished at the first question about the unrestored
    // sessions (walk_some() without a bound).
    void walk_previous_log();
    // The walk is done: its sessions become unrestored, each with the fd systemd carried.
    void finish_walk();
    void start_fresh();
    // Takes luod's own session and index, writes the manifest, and only then puts both in
    // the fd store: whatever the store holds is complete.
    void attach_luod_session(luo::Session session, ManifestStore index);
    void finish_previous_luod_session(luo::Session previous);
    // A restored record joins `sessions` and the manifest (written with the next write).
    void adopt(Sessions& sessions, SessionRecord record);
    // Files a killed luod had recorded ahead of PRESERVE_FD (pending): the kernel is asked
    // whether it holds each token; the record keeps those it holds and drops the others, so
    // Files lists only what the kernel has. One it cannot tell about stays pending.
    void resolve_pending_files(SessionRecord& session);
    // The manifest that `index` names: a log whose segments `segment_fd` gives by token, or
    // (from an older luod) the whole document in the index itself. Throws.
    Manifest read_manifest(const ManifestStore& index, const std::function<luo::UniqueFd(std::uint64_t)>& segment_fd,
                           bool keep_chains);
    // The same, sorted by session and not replayed (scan_manifest_log); an older luod's whole
    // document comes back replayed, in `whole`. Throws.
    ManifestScan scan_manifest(const ManifestStore& index,
                               const std::function<luo::UniqueFd(std::uint64_t)>& segment_fd, bool keep_chains,
                               std::optional<Manifest>& whole);

    // What the log holds of a session: its header and each file's encoding, by token.
    struct Written {
        std::string header;
        std::map<std::uint64_t, std::string> files;
        std::size_t bytes = 0;  // of its entry in a fresh log
    };
    [[nodiscard]] static std::string encode_header(const SessionRecord& session);
    [[nodiscard]] std::string state_entry() const;
    [[nodiscard]] static std::string session_entry(const std::string& name, const Written& written);
    // Its size, without writing it (each change of a record keeps what its entry would cost).
    [[nodiscard]] static std::size_t session_entry_size(const std::string& name, const Written& written);
    // Appends an entry, growing or rewriting the log first when it must; throws ApiError.
    void append(const std::string& payload, Write kind);
    // The two halves of append(): room for a payload of `payload` bytes, then the append.
    void make_room_for(std::size_t payload, Write kind);
    void append_now(const std::string& payload);
    // Appends the state entry (the report's entry first, when the log lacks the report as it
    // is now) and writes where it is into the index.
    void append_state(Write kind);
    // Appends the report's own entry; the next state entry names it.
    void append_report(Write kind);
    // Makes room for `bytes`: a segment more, or the live records rewritten into the spare chain.
    void make_room(std::size_t bytes);
    // Writes every live record afresh into the spare chain (grown to hold them and `extra`
    // bytes more), then switches the index to it.
    void rewrite(std::size_t extra);
    // Adds segments to `chain` until it has `room` bytes free; throws luo::Error.
    void grow(ManifestLog& chain, std::size_t room);
    void write_index();
    [[nodiscard]] std::size_t live_bytes() const;

    void lap(const char* step)
    {
        if (clock_)
            clock_->lap(step);
    }

    const Config& config_;
    FdStore& fd_store_;
    DeviceAccess& device_;
    StartupClock* clock_ = nullptr;

    luo::Session luod_session_;  // luod's own session; the index is token 0, the segments follow
    std::optional<ManifestStore> index_;
    std::optional<ManifestLog> log_;    // the live log
    std::optional<ManifestLog> spare_;  // the chain the next rewrite goes to
    std::uint64_t next_token_ = 1;      // the next token of luod's session for a segment
    std::optional<ManifestIndex::EntryAt> last_state_;  // in the live log, for the index
    std::size_t last_write_ = 0;
    std::string boot_id_;
    std::uint64_t live_update_count_ = 0;
    bool restored_from_update_ = false;
    std::optional<luo::update::UpdateRecord> update_;
    std::optional<luo::update::UpdateReport> last_update_;
    bool last_update_unwritten_ = false;  // changed in memory since its last entry
    // The report's entry in the live log (none yet in this log: the next state entry writes
    // it), and that entry's bytes.
    std::optional<ManifestIndex::EntryAt> report_at_;
    std::size_t report_bytes_ = 0;
    std::map<std::string, Written> written_;  // each session as the log has it, by name

    // A session of the manifest from before the update, not restored yet: its log entries (or,
    // from an older luod's whole document, its record), and the fd systemd carried, if any.
    struct Unrestored {
        std::vector<std::string> entries;
        std::optional<ManifestSession> decoded;
        std::vector<ManifestLog::Extent> extents;  // of its entries in previous_log_, when walked
        luo::UniqueFd carried;
        bool unknown_to_manifest = false;  // systemd carried it, the manifest does not name it
        std::optional<std::optional<Glance>> glanced;  // glance()'s answer, once asked
    };
    // Its record as the manifest has it. Throws what reading or replaying it throws.
    [[nodiscard]] ManifestSession read_unrestored(const Unrestored& u);
    std::map<std::string, Unrestored> unrestored_;
    std::optional<std::string> glanced_up_to_;  // glance_some(): the last name it glanced at
    luo::Session previous_luod_;  // luod's session from before the update, while restoring
    std::optional<ManifestLog> previous_log_;  // its manifest's log, when walked
    bool restoring_ = false;      // written in the state entry: a restart resumes the restore
    bool walk_pending_ = false;   // previous_log_ is not walked yet
    std::optional<ManifestLog::Walk> walk_;  // of previous_log_, once begun
    std::map<std::string, std::vector<ManifestLog::Extent>> walked_;  // its sessions' entries so far
    std::chrono::steady_clock::time_point walk_began_;
    std::chrono::steady_clock::duration walk_work_{};  // the time spent in its steps
    std::size_t walk_steps_ = 0;
    // The sessions' fds systemd carried across the kexec, by fd store name, until the walk.
    std::map<std::string, luo::UniqueFd> carried_;
    bool manifest_withheld_ = false;          // from the fd store, during a kexec through systemd
};

}  // namespace luod
